// One channel seen by React: an external store (for useSyncExternalStore) shared by every hook on that channel.
import type { BroadcastMessage, ChannelState, PresenceState, RealtimeChannel, RealtimeClient, RealtimeError, SendReceipt, TableChange } from '@nself/client';

/** A received broadcast, as `useChannel` lists it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the payload is any unless told otherwise, as in supabase-js
export interface ChannelMessage<T = any> {
  /** Stable key: the stored message's id, else its offset, else a local counter. */
  readonly id: string;
  readonly event: string;
  readonly payload: T;
  /** Offset in the channel's log, when the server numbers messages. */
  readonly offset: number | undefined;
  /** True when the message was delivered again after a reconnect. */
  readonly replayed: boolean;
}

/** One present key (a user, when tracked states carry `user_id`): its newest tracked state, and the key. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tracked state is any unless told otherwise, as in supabase-js
export type OnlineEntry<TState = Record<string, any>> = TState & { key: string; presence_ref: string };

/** Everything the hooks read, replaced (never mutated) on each change. */
export interface ChannelSnapshot {
  readonly status: ChannelState;
  readonly error: Error | undefined;
  readonly messages: readonly ChannelMessage[];
  readonly online: readonly OnlineEntry[];
  readonly presence: PresenceState;
  readonly changes: readonly TableChange[];
}

/** What a hook needs from the channel besides broadcasts. */
export interface Features {
  readonly presence?: boolean;
  readonly tableChanges?: boolean;
}

/** How many messages and table changes a store keeps (the newest ones). */
export const MAX_KEPT = 500;

const INITIAL: ChannelSnapshot = { status: 'closed', error: undefined, messages: [], online: [], presence: {}, changes: [] };
const stores = new WeakMap<RealtimeClient, Map<string, ChannelStore>>();

/** The store of channel `name` of `client`, created on first use (without joining: that happens on subscribe). */
export function channelStore(client: RealtimeClient, name: string): ChannelStore {
  let byName = stores.get(client);
  if (!byName) stores.set(client, (byName = new Map<string, ChannelStore>()));
  let store = byName.get(name);
  if (!store) byName.set(name, (store = new ChannelStore(client, name, () => byName.delete(name))));
  return store;
}

/** A channel with its snapshot, reference-counted by the hooks that use it. */
export class ChannelStore {
  private snapshot: ChannelSnapshot = INITIAL;
  private channel: RealtimeChannel | undefined;
  private references = 0;
  private releaseTimer: ReturnType<typeof setTimeout> | undefined;
  private localIds = 0;
  private presenceOn = false;
  private tablesOn = false;
  private readonly watchers = new Set<() => void>();

  constructor(
    private readonly client: RealtimeClient,
    private readonly name: string,
    private readonly discard: () => void,
  ) {}

  /** The current snapshot (the same object until something changes). */
  readonly getSnapshot = (): ChannelSnapshot => this.snapshot;

  /**
   * Uses the channel (joining it if needed) with `features`, and calls `onChange` on each change.
   * Returns the release function. The channel is left only once no hook has used it for a moment,
   * so StrictMode's mount, unmount and mount again joins once.
   */
  acquire(features: Features, onChange: () => void): () => void {
    clearTimeout(this.releaseTimer);
    this.references += 1;
    this.watchers.add(onChange);
    this.enable(features);
    return () => {
      this.watchers.delete(onChange);
      this.references -= 1;
      if (this.references > 0) return;
      this.releaseTimer = setTimeout(() => {
        if (this.references > 0) return;
        this.discard();
        const channel = this.channel;
        this.channel = undefined;
        void channel?.unsubscribe();
      }, 50);
    };
  }

  /** Sends a broadcast on the channel; resolves when the server acknowledged it. */
  send<T>(event: string, payload: T): Promise<SendReceipt> {
    return this.ensureChannel().send({ type: 'broadcast', event, payload });
  }

  /** Tracks my presence on the channel. */
  track(state: Record<string, unknown>): Promise<void> {
    return this.ensureChannel().track(state);
  }

  private enable(features: Features): void {
    const channel = this.ensureChannel();
    if (features.presence && !this.presenceOn) {
      this.presenceOn = true;
      channel.on('presence', { event: 'sync' }, () => this.update({ presence: channel.presenceState(), online: onlineOf(channel.presenceState()) }));
    }
    if (features.tableChanges && !this.tablesOn) {
      this.tablesOn = true;
      channel.on('*', (change: TableChange) => this.update({ changes: [...this.snapshot.changes, change].slice(-MAX_KEPT) }));
    }
  }

  private ensureChannel(): RealtimeChannel {
    if (this.channel) return this.channel;
    const channel = this.client.channel(this.name, { config: { broadcast: { self: true } } });
    this.channel = channel;
    this.update({ status: 'joining', error: undefined });
    channel.on('broadcast', { event: '*' }, (message) => this.receive(message));
    // A message a moderator deleted leaves the list.
    channel.on('message_deleted', (deleted) =>
      this.update({ messages: this.snapshot.messages.filter((message) => message.id !== deleted.id && message.offset !== deleted.offset) }),
    );
    channel.on('system', (payload) => {
      if (payload.status === 'error') this.update({ error: new Error(payload.message) });
    });
    channel.subscribe((status, error?: RealtimeError) => {
      if (status === 'SUBSCRIBED') this.update({ status: 'joined', error: undefined });
      else if (status === 'CLOSED') this.update({ status: 'closed' });
      else this.update({ status: 'errored', error });
    });
    return channel;
  }

  private receive(message: BroadcastMessage): void {
    this.localIds += 1;
    const id = message.id ?? (message.offset !== undefined ? String(message.offset) : `local-${this.localIds}`);
    const entry: ChannelMessage = { id, event: message.event, payload: message.payload, offset: message.offset, replayed: message.replayed };
    this.update({ messages: [...this.snapshot.messages, entry].slice(-MAX_KEPT) });
  }

  private update(change: Partial<ChannelSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...change };
    for (const watcher of [...this.watchers]) watcher();
  }
}

/** One entry per presence key: its newest presence, with the key. */
function onlineOf(state: PresenceState): OnlineEntry[] {
  return Object.entries(state).flatMap(([key, presences]) => {
    const newest = presences.at(-1);
    return newest ? [{ ...newest, key } as OnlineEntry] : [];
  });
}
