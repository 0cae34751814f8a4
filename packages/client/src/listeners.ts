// A channel's listeners: broadcast events by name, presence join/leave/sync, table changes and system messages.
import type { SystemPayload } from '@nself/protocol';
import type { PresenceChange } from './presence.js';
import { changeMatches, toTableChange, type TableBinding, type TableChange } from './table-changes.js';

/** A broadcast as listeners receive it (the Supabase envelope, plus its place in the channel's log). */
export interface BroadcastMessage<T = unknown> {
  readonly type: 'broadcast';
  readonly event: string;
  readonly payload: T;
  /** The server's metadata: `id`, `offset`, `replayed`. */
  readonly meta: Record<string, unknown>;
  /** The message's offset in the channel's log, when the server numbers messages. */
  readonly offset: number | undefined;
  /** The stored message's id, when the server has one. */
  readonly id: string | undefined;
  /** True when the message was sent again after a reconnect (it was missed while offline). */
  readonly replayed: boolean;
}

/** Called with a broadcast's payload, and the whole message. */
export type BroadcastCallback<T> = (payload: T, message: BroadcastMessage<T>) => void;
/** Called with a table change. */
export type TableCallback<TRow> = (change: TableChange<TRow>) => void;
/** Called on a presence join or leave. */
export type PresenceCallback<TState> = (change: PresenceChange<TState>) => void;
/** Called with a `system` message (for example a ResumeUnavailable notice). */
export type SystemCallback = (payload: SystemPayload) => void;

type AnyCallback = (...args: never[]) => void;

/** Every listener of one channel, and dispatch to the ones a message concerns. */
export class ChannelListeners {
  private readonly broadcasts: Array<{ event: string; callback: AnyCallback; envelope: boolean }> = [];
  private readonly presences: Array<{ event: 'join' | 'leave' | 'sync'; callback: AnyCallback }> = [];
  private readonly tables: Array<{ binding: TableBinding; callback: AnyCallback }> = [];
  private readonly systems: SystemCallback[] = [];
  private bindingIds: unknown[] = [];

  /** Adds a broadcast listener (`'*'` for every event); `envelope` passes the whole message as the only argument. */
  addBroadcast(event: string, callback: AnyCallback, envelope: boolean): void {
    this.broadcasts.push({ event: event.toLowerCase(), callback, envelope });
  }

  addPresence(event: 'join' | 'leave' | 'sync', callback: AnyCallback): void {
    this.presences.push({ event, callback });
  }

  addTable(binding: TableBinding, callback: AnyCallback): void {
    this.tables.push({ binding, callback });
  }

  addSystem(callback: SystemCallback): void {
    this.systems.push(callback);
  }

  get hasPresence(): boolean {
    return this.presences.length > 0;
  }

  /** The distinct table bindings, in the order they were first added: the join's `config.postgres_changes`. */
  tableBindings(): TableBinding[] {
    const seen = new Map<string, TableBinding>();
    for (const { binding } of this.tables) seen.set(JSON.stringify(binding), seen.get(JSON.stringify(binding)) ?? binding);
    return [...seen.values()];
  }

  /** Records the ids the join reply gave the bindings, in `tableBindings()` order. */
  setBindingIds(ids: unknown[]): void {
    this.bindingIds = ids;
  }

  dispatchBroadcast(message: BroadcastMessage): void {
    const event = message.event.toLowerCase();
    for (const listener of this.broadcasts) {
      if (listener.event !== '*' && listener.event !== event) continue;
      if (listener.envelope) (listener.callback as (message: BroadcastMessage) => void)(message);
      else (listener.callback as BroadcastCallback<unknown>)(message.payload, message);
    }
  }

  dispatchPresence(change: PresenceChange | undefined): void {
    const event = change?.event ?? 'sync';
    for (const listener of this.presences) {
      if (listener.event === event) (listener.callback as (change?: PresenceChange) => void)(change);
    }
  }

  dispatchTable(frame: { ids?: unknown[]; data?: Record<string, unknown> }): void {
    const bindings = this.tableBindings().map((binding) => JSON.stringify(binding));
    let change: TableChange | undefined;
    for (const { binding, callback } of this.tables) {
      const id = this.bindingIds[bindings.indexOf(JSON.stringify(binding))];
      if (!changeMatches(binding, id, frame)) continue;
      change ??= toTableChange(frame.data ?? {});
      (callback as TableCallback<unknown>)(change);
    }
  }

  dispatchSystem(payload: SystemPayload): void {
    for (const callback of this.systems) callback(payload);
  }
}
