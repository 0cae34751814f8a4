// The hooks: useChannel (messages, send, online), usePresence and useTableChanges, over the channel stores.
import { useCallback, useEffect, useMemo, useSyncExternalStore } from 'react';
import type { ChannelState, SendReceipt, TableChange, TableEvent } from '@nself/client';
import { channelStore, type ChannelMessage, type ChannelSnapshot, type Features, type OnlineEntry } from './channel-store.js';
import { useRealtimeClient } from './provider.js';

/** Options of `useChannel`. */
export interface UseChannelOptions<TState> {
  /** Broadcast events to list in `messages`. @default every event */
  events?: readonly string[];
  /** `true` to fill `online`; `{ track: state }` to also track my own presence with `state`. @default false */
  presence?: boolean | { track: TState };
}

/** What `useChannel` returns. */
export interface UseChannelResult<TPayload, TState> {
  /** Broadcasts received since the component mounted (mine too), oldest first, at most 500. */
  messages: readonly ChannelMessage<TPayload>[];
  /** Sends a broadcast; resolves when the server has acknowledged it. */
  send: (event: string, payload: TPayload) => Promise<SendReceipt>;
  /** Who is present: one entry per presence key (empty unless `presence` is set). */
  online: readonly OnlineEntry<TState>[];
  /** The channel's state: joining, joined, errored (reconnecting) or closed. */
  status: ChannelState;
  /** The latest problem (a failed join, a lost connection, a ResumeUnavailable notice), cleared on rejoin. */
  error: Error | undefined;
}

/**
 * Joins channel `name` for as long as the component is mounted, and lists its broadcasts.
 *
 * @example
 * const { messages, send, online } = useChannel(roomId, { events: ['message.sent'], presence: true });
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- payloads and states are any unless told otherwise, as in supabase-js
export function useChannel<TPayload = any, TState = Record<string, any>>(name: string, options: UseChannelOptions<TState> = {}): UseChannelResult<TPayload, TState> {
  const tracked = typeof options.presence === 'object' ? options.presence.track : undefined;
  const { store, snapshot } = useStore(name, { presence: Boolean(options.presence) });
  useTrack(store, tracked as Record<string, unknown> | undefined);
  const eventsKey = options.events ? JSON.stringify(options.events) : '';
  const messages = useMemo(() => {
    if (!eventsKey) return snapshot.messages;
    const wanted = new Set((JSON.parse(eventsKey) as string[]).map((event) => event.toLowerCase()));
    return snapshot.messages.filter((message) => wanted.has(message.event.toLowerCase()));
  }, [snapshot.messages, eventsKey]);
  const send = useCallback((event: string, payload: TPayload) => store.send(event, payload), [store]);
  return {
    messages: messages as readonly ChannelMessage<TPayload>[],
    send,
    online: snapshot.online as readonly OnlineEntry<TState>[],
    status: snapshot.status,
    error: snapshot.error,
  };
}

/** What `usePresence` returns. */
export interface UsePresenceResult<TState> {
  /** One entry per presence key, with its newest tracked state. */
  online: readonly OnlineEntry<TState>[];
  /** Every presence by key, as `channel.presenceState()`. */
  presence: ChannelSnapshot['presence'];
  status: ChannelState;
  error: Error | undefined;
}

/**
 * Who is present on channel `name`; with `state`, tracks me too (again whenever `state` changes).
 *
 * @example
 * const { online } = usePresence('lobby', { user_id: me.id, status: 'online' });
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tracked state is any unless told otherwise, as in supabase-js
export function usePresence<TState = Record<string, any>>(name: string, state?: TState): UsePresenceResult<TState> {
  const { store, snapshot } = useStore(name, { presence: true });
  useTrack(store, state as Record<string, unknown> | undefined);
  return { online: snapshot.online as readonly OnlineEntry<TState>[], presence: snapshot.presence, status: snapshot.status, error: snapshot.error };
}

/** What `useTableChanges` returns. */
export interface UseTableChangesResult<TRow> {
  /** Changes received since the component mounted, oldest first, at most 500. */
  changes: readonly TableChange<TRow>[];
  status: ChannelState;
  error: Error | undefined;
}

/**
 * The changes of table `table` (`'public.users'`, as given to `nself realtime subscribe`).
 *
 * @example
 * const { changes } = useTableChanges<User>('public.users', { event: 'INSERT' });
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows are any unless told otherwise, as in supabase-js
export function useTableChanges<TRow = Record<string, any>>(table: string, options: { event?: TableEvent } = {}): UseTableChangesResult<TRow> {
  const { snapshot } = useStore(`realtime:table:${table}`, { tableChanges: true });
  const event = options.event ?? '*';
  const changes = useMemo(() => (event === '*' ? snapshot.changes : snapshot.changes.filter((change) => change.eventType === event)), [snapshot.changes, event]);
  return { changes: changes as readonly TableChange<TRow>[], status: snapshot.status, error: snapshot.error };
}

/** Subscribes the component to the store of channel `name` with `features`. */
function useStore(name: string, features: Features) {
  const client = useRealtimeClient();
  const store = useMemo(() => channelStore(client, name), [client, name]);
  const { presence, tableChanges } = features;
  const subscribe = useCallback((onChange: () => void) => store.acquire({ presence, tableChanges }, onChange), [store, presence, tableChanges]);
  const snapshot = useSyncExternalStore(subscribe, store.getSnapshot, store.getSnapshot);
  return { store, snapshot };
}

/** Tracks `state` on the store's channel while mounted, again whenever its JSON changes. */
function useTrack(store: ReturnType<typeof channelStore>, state: Record<string, unknown> | undefined): void {
  const json = state === undefined ? undefined : JSON.stringify(state);
  useEffect(() => {
    if (json !== undefined) void store.track(JSON.parse(json) as Record<string, unknown>);
  }, [store, json]);
}
