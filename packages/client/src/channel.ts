// A channel: joins (automatically or with subscribe), rejoins resuming from its last offset, sends, tracks presence.
import {
  changePositionOf,
  ChannelEvent,
  FeatureEvent,
  MESSAGE_DELETED_EVENT,
  readAckOffset,
  readBroadcastMeta,
  readJoinReply,
  readMessageDeleted,
  TOPIC_PREFIX,
  encodeBroadcastPush,
  type JoinPayload,
  type Message,
  type MessageDeleted,
  type SystemPayload,
} from '@nself/protocol';
import type { Connection, ChannelEndpoint } from './connection.js';
import { RealtimeError, replyError } from './errors.js';
import { ChannelListeners, type BroadcastCallback, type BroadcastMessage, type PresenceCallback, type SystemCallback, type TableCallback } from './listeners.js';
import { Outbox, wirePayload, type QueuedSend, type SendReceipt } from './outbox.js';
import { PresenceTracker, presenceKeyOf, type PresenceState } from './presence.js';
import { joinPayload, type ChannelOptions } from './join-config.js';
import { tableOfChannel, type TableBinding, type TableEvent } from './table-changes.js';

/** Where a channel is in its life. */
export type ChannelState = 'closed' | 'joining' | 'joined' | 'errored' | 'leaving';

/** Statuses reported to `subscribe(callback)`, as in Supabase Realtime. */
export type SubscribeStatus = 'SUBSCRIBED' | 'CHANNEL_ERROR' | 'TIMED_OUT' | 'CLOSED';

/** Called on every status change; `error` says why for CHANNEL_ERROR and TIMED_OUT. */
export type StatusCallback = (status: SubscribeStatus, error?: RealtimeError) => void;

/** A broadcast to send. */
export interface BroadcastInput<T = unknown> {
  type: 'broadcast';
  event: string;
  /** A JSON value, or bytes (ArrayBuffer or typed array). */
  payload?: T;
}

/** What the channel needs from its client. */
export interface ChannelHost {
  readonly connection: Connection;
  readonly maxQueuedSends: number;
  readonly timeoutMs: number;
  readonly reconnectDelayMs: (tries: number) => number;
  forget(channel: RealtimeChannel): void;
}

const encoder = new TextEncoder();

/** A channel of the realtime server, as returned by `client.channel(name)`. */
export class RealtimeChannel implements ChannelEndpoint {
  /** The channel's name as given to `client.channel`. */
  readonly name: string;
  /** The wire topic: `realtime:<name>`. */
  readonly topic: string;
  private current: ChannelState = 'closed';
  private joinRef: string | null = null;
  private wanted = false;
  private subscribedOnce = false;
  private removed = false;
  private rejoinTries = 0;
  private rejoinTimer: ReturnType<typeof setTimeout> | undefined;
  private sentSignature = '';
  private offset: number | undefined;
  /** Log position of the newest table change received (resume point of table changes). */
  private changePosition: number | undefined;
  /** Until the server confirms table changes flow, SUBSCRIBED waits (at most `timeoutMs`). */
  private tablesTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly ownOffsets = new Set<number>();
  private trackedState: Record<string, unknown> | undefined;
  private trackWaiters: Array<{ resolve: () => void; reject: (error: RealtimeError) => void }> = [];
  private presenceKey: string | undefined;
  private readonly statusCallbacks = new Set<StatusCallback>();
  private readonly listeners = new ChannelListeners();
  private readonly presence: PresenceTracker;
  private readonly outbox: Outbox;
  private readonly table: { schema: string; table: string } | undefined;

  constructor(
    name: string,
    private readonly options: ChannelOptions,
    private readonly host: ChannelHost,
  ) {
    if (typeof name !== 'string' || name.trim() === '') {
      throw new RealtimeError('INVALID_ARGUMENT', 'a channel needs a name, such as client.channel("general")');
    }
    if (encoder.encode(TOPIC_PREFIX + name).length > 255) {
      throw new RealtimeError('INVALID_ARGUMENT', `channel name "${name.slice(0, 40)}…" is too long; at most 246 bytes fit`);
    }
    this.name = name;
    this.topic = TOPIC_PREFIX + name;
    this.table = tableOfChannel(name);
    this.presenceKey = options.config?.presence?.key;
    this.outbox = new Outbox(host.maxQueuedSends, name);
    this.presence = new PresenceTracker(
      (change) => this.listeners.dispatchPresence(change),
      () => this.listeners.dispatchPresence(undefined),
    );
  }

  /** The channel's state. */
  get state(): ChannelState {
    return this.current;
  }

  /** The offset of the newest message received (the resume point), or undefined before the first. */
  get lastOffset(): number | undefined {
    return this.offset;
  }

  /** Presence events: `{ event: 'join' | 'leave' }` get `{ key, currentPresence, newPresences, leftPresences, … }`. */
  on<TState = Record<string, unknown>>(event: 'presence', filter: { event: 'join' | 'leave' }, callback: PresenceCallback<TState>): this;
  /** Presence `sync`: after every change; read `presenceState()`. */
  on(event: 'presence', filter: { event: 'sync' }, callback: () => void): this;
  /** Server `system` messages (for example ResumeUnavailable). */
  on(event: 'system', callback: SystemCallback): this;
  /** A moderator deleted a message of the channel: its `id` and `offset` (drop it from what the app shows). */
  on(event: 'message_deleted', callback: (deleted: MessageDeleted) => void): this;
  /* eslint-disable @typescript-eslint/no-explicit-any -- supabase-js types payloads as any unless told otherwise, and code written for it must compile unchanged */
  /** Supabase style: broadcasts of `filter.event` (or `'*'`), the callback gets the whole message. */
  on<T = any>(event: 'broadcast', filter: { event: string }, callback: (message: BroadcastMessage<T>) => void): this;
  /** Supabase style: table changes of any table. */
  on<TRow = Record<string, any>>(event: 'postgres_changes', filter: TableBinding, callback: TableCallback<TRow>): this;
  /** On a `realtime:table:<schema>.<table>` channel: that table's INSERT, UPDATE or DELETE changes (`'*'`: all of them). */
  on<TRow = Record<string, any>>(event: Exclude<TableEvent, '*'>, callback: TableCallback<TRow>): this;
  /** Broadcasts of one event (or `'*'` for all): the callback gets the payload, then the whole message. */
  on<T = any>(event: string, callback: BroadcastCallback<T>): this;
  /* eslint-enable @typescript-eslint/no-explicit-any */
  on(event: string, filterOrCallback: unknown, maybeCallback?: unknown): this {
    this.listeners.register(event, filterOrCallback, maybeCallback, this.table);
    this.reconfigure();
    return this;
  }

  /** Joins the channel (it also joins by itself on first use) and reports status changes to `callback`. */
  subscribe(callback?: StatusCallback): this {
    this.assertUsable();
    if (callback) {
      this.statusCallbacks.add(callback);
      if (this.current === 'joined' && this.tablesTimer === undefined) callback('SUBSCRIBED');
    }
    if (this.wanted) return this;
    this.wanted = true;
    this.subscribedOnce = true;
    this.host.connection.register(this);
    this.host.connection.connect();
    if (this.host.connection.isOpen) this.join();
    return this;
  }

  /** Joins unless `subscribe()` or `unsubscribe()` was already called: the seed's examples never call subscribe. */
  autoJoin(): void {
    if (!this.subscribedOnce && !this.removed) this.subscribe();
  }

  /**
   * Sends a broadcast. Resolves when the server has acknowledged (stored) it; rejects with a
   * RealtimeError on refusal (REFUSED), timeout (TIMED_OUT), a connection lost before the answer
   * (CONNECTION_LOST), a full offline queue (QUEUE_FULL) or a closed channel (CLOSED).
   * While the channel is not joined, sends wait in a bounded queue and go out in order once it is.
   */
  send<T = unknown>(message: BroadcastInput<T>): Promise<SendReceipt> {
    if (typeof message !== 'object' || message === null || message.type !== 'broadcast') {
      throw new RealtimeError('INVALID_ARGUMENT', `send() takes { type: 'broadcast', event, payload }, got type ${JSON.stringify((message as { type?: unknown } | null)?.type)}`);
    }
    if (typeof message.event !== 'string' || message.event === '' || encoder.encode(message.event).length > 255) {
      throw new RealtimeError('INVALID_ARGUMENT', 'send() needs an event name of 1 to 255 bytes, such as "message.sent"');
    }
    const payload = wirePayload(message.payload);
    const promise = new Promise<SendReceipt>((resolve, reject) => {
      const item: QueuedSend = { event: message.event, payload, resolve, reject };
      if (this.removed) reject(this.closedError());
      else if (this.current === 'joined' && this.host.connection.isOpen) this.write(item);
      else this.outbox.add(item);
    });
    promise.catch(() => undefined);
    if (!this.removed) this.autoJoin();
    return promise;
  }

  /**
   * Tracks my presence with `state` (a JSON object), now or as soon as the channel joins, and again
   * after every reconnect. Resolves when the server has accepted it.
   */
  track<TState extends Record<string, unknown>>(state: TState): Promise<void> {
    if (typeof state !== 'object' || state === null || Array.isArray(state)) {
      throw new RealtimeError('INVALID_ARGUMENT', 'track() takes a JSON object, such as { user_id: "user-123", status: "online" }');
    }
    this.trackedState = state;
    this.presenceKey ??= presenceKeyOf(state);
    const promise = new Promise<void>((resolve, reject) => {
      if (this.removed) return reject(this.closedError());
      this.trackWaiters.push({ resolve, reject });
      if (this.current === 'joined' && this.sentSignature === this.signature()) this.sendTrack();
    });
    promise.catch(() => undefined);
    if (!this.removed) {
      this.reconfigure();
      this.autoJoin();
    }
    return promise;
  }

  /** Stops tracking my presence. */
  untrack(): Promise<void> {
    this.trackedState = undefined;
    if (this.current !== 'joined') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const ref = this.host.connection.makeRef();
      this.host.connection.request(this.message(FeatureEvent.presence, { type: 'presence', event: 'untrack' }, ref), ref, (reply) => {
        if (reply.status === 'ok') resolve();
        else reject(replyError(reply, `untrack on "${this.name}"`));
      });
    });
  }

  /** Everyone present: presence key → presences (`{ ...trackedState, presence_ref }`). */
  presenceState<TState = Record<string, unknown>>(): PresenceState<TState> {
    return this.presence.snapshot() as PresenceState<TState>;
  }

  /** Leaves the channel for good: waiting sends are rejected, and `client.channel(name)` makes a new one. */
  async unsubscribe(): Promise<void> {
    if (this.removed) return;
    this.wanted = false;
    clearTimeout(this.rejoinTimer);
    this.host.forget(this);
    if ((this.current === 'joined' || this.current === 'joining') && this.host.connection.isOpen && this.joinRef) {
      this.current = 'leaving';
      const ref = this.host.connection.makeRef();
      await new Promise<void>((resolve) => {
        this.host.connection.request(this.message(ChannelEvent.leave, {}, ref), ref, () => resolve());
      });
    }
    this.close();
  }

  /** Closes the channel locally (no leave is sent): used by `client.disconnect()`. */
  close(): void {
    if (this.removed) return;
    this.removed = true;
    this.wanted = false;
    clearTimeout(this.rejoinTimer);
    clearTimeout(this.tablesTimer);
    this.current = 'closed';
    this.joinRef = null;
    const error = this.closedError();
    this.outbox.failAll(error);
    for (const waiter of this.trackWaiters.splice(0)) waiter.reject(error);
    this.host.connection.unregister(this);
    this.host.forget(this);
    this.emit('CLOSED');
  }

  /** @internal Routes a message of this topic. */
  handleMessage(message: Message): void {
    if (message.joinRef !== null && message.joinRef !== this.joinRef) return;
    const payload = message.payload as Record<string, unknown>;
    switch (message.event) {
      case FeatureEvent.broadcast:
        return this.receiveBroadcast(payload);
      case FeatureEvent.presenceState:
        return this.presence.applyState(payload);
      case FeatureEvent.presenceDiff:
        return this.presence.applyDiff(payload);
      case FeatureEvent.postgresChanges:
        return this.receiveChange(payload);
      case FeatureEvent.system:
        return this.receiveSystem(payload as unknown as SystemPayload);
      case MESSAGE_DELETED_EVENT: {
        const deleted = readMessageDeleted(payload);
        if (deleted) this.listeners.dispatchDeletion(deleted);
        return;
      }
      case ChannelEvent.close:
        if (this.current !== 'leaving') this.close();
        return;
      case ChannelEvent.error:
        this.current = 'errored';
        this.emit('CHANNEL_ERROR', new RealtimeError('CONNECTION_LOST', `channel "${this.name}" failed on the server; rejoining`));
        this.scheduleRejoin();
        return;
      default:
    }
  }

  /** @internal The connection opened (or reopened): join if wanted. */
  handleOpen(): void {
    if (this.wanted && this.current !== 'joined' && this.current !== 'joining') this.join();
  }

  /** @internal The connection dropped or could not open: report it once; the channel rejoins when it reopens. */
  handleLost(reason: string): void {
    clearTimeout(this.rejoinTimer);
    if (this.wanted && this.current !== 'errored') {
      this.current = 'errored';
      this.emit('CHANNEL_ERROR', new RealtimeError('CONNECTION_LOST', reason));
    }
  }

  /** @internal A new access token: send it to the server if joined (future joins carry it anyway). */
  handleToken(token: string | null): void {
    if (this.current === 'joined' && token) {
      this.host.connection.send(this.message(ChannelEvent.accessToken, { access_token: token }, this.host.connection.makeRef()));
    }
  }

  private join(): void {
    clearTimeout(this.rejoinTimer);
    const connection = this.host.connection;
    const ref = connection.makeRef();
    this.joinRef = ref;
    this.current = 'joining';
    this.sentSignature = this.signature();
    this.presence.reset();
    connection.request(this.message(ChannelEvent.join, this.joinPayload(), ref), ref, (reply) => {
      if (this.joinRef !== ref || this.removed) return;
      if (reply.status === 'ok') this.joined(reply.response);
      else if (reply.status === 'error') {
        this.current = 'errored';
        this.emit('CHANNEL_ERROR', replyError(reply, `joining "${this.name}"`));
        this.scheduleRejoin();
      } else if (reply.status === 'timeout') {
        this.current = 'errored';
        connection.send(this.message(ChannelEvent.leave, {}, connection.makeRef()));
        this.emit('TIMED_OUT', replyError(reply, `joining "${this.name}"`));
        this.scheduleRejoin();
      }
    });
  }

  private joined(response: unknown): void {
    const reply = readJoinReply(response);
    this.current = 'joined';
    this.rejoinTries = 0;
    this.listeners.setBindingIds(reply.bindingIds);
    // The replayed messages come right after the reply: the resume point sits just before the first of them.
    if (this.offset === undefined) this.offset = reply.replayFirstOffset !== undefined ? reply.replayFirstOffset - 1 : reply.latestOffset;
    clearTimeout(this.tablesTimer);
    if (this.listeners.tableBindings().length > 0) this.tablesTimer = setTimeout(() => this.tablesReady(), this.host.timeoutMs);
    else this.emit('SUBSCRIBED');
    if (this.trackedState && this.presenceEnabled()) this.sendTrack();
    for (const item of this.outbox.takeAll()) this.write(item);
  }

  /** Table changes flow (the server said so, or stayed silent for `timeoutMs`): now the channel is SUBSCRIBED. */
  private tablesReady(): void {
    if (this.tablesTimer === undefined) return;
    clearTimeout(this.tablesTimer);
    this.tablesTimer = undefined;
    if (this.current === 'joined') this.emit('SUBSCRIBED');
  }

  private receiveSystem(payload: SystemPayload): void {
    if (payload.extension === 'postgres_changes') {
      // "Subscribed to PostgreSQL" says where delivery starts: the resume point until a change arrives.
      const start = payload.position;
      if (payload.status === 'ok' && typeof start === 'number' && this.changePosition === undefined) this.changePosition = start;
      if (payload.status === 'ok') this.tablesReady();
      else this.emit('CHANNEL_ERROR', new RealtimeError('REFUSED', `table changes on "${this.name}": ${payload.message}`, payload));
    }
    this.listeners.dispatchSystem(payload);
  }

  /** Delivers a table change once: changes at or below the last log position received are repeats. */
  private receiveChange(frame: Record<string, unknown>): void {
    const position = changePositionOf(frame);
    if (position !== undefined) {
      if (this.changePosition !== undefined && position <= this.changePosition) return;
      this.changePosition = position;
    }
    this.listeners.dispatchTable(frame);
  }

  private scheduleRejoin(): void {
    if (!this.wanted) return;
    this.rejoinTries += 1;
    clearTimeout(this.rejoinTimer);
    this.rejoinTimer = setTimeout(() => {
      if (this.wanted && this.host.connection.isOpen) this.join();
    }, this.host.reconnectDelayMs(this.rejoinTries));
  }

  /** Rejoins with the new configuration when a listener or track() changed what the join must ask for. */
  private reconfigure(): void {
    queueMicrotask(() => {
      if ((this.current === 'joined' || this.current === 'joining') && this.signature() !== this.sentSignature) this.join();
    });
  }

  private write(item: QueuedSend): void {
    const connection = this.host.connection;
    const ref = connection.makeRef();
    const frame = encodeBroadcastPush({ joinRef: this.joinRef ?? '', ref, topic: this.topic, event: item.event, meta: {}, payload: item.payload as never });
    if (this.options.config?.broadcast?.ack === false) {
      connection.sendBinary(frame);
      item.resolve({ offset: undefined });
      return;
    }
    connection.request(frame, ref, (reply) => {
      if (reply.status !== 'ok') return item.reject(replyError(reply, `sending "${item.event}" on "${this.name}"`));
      const offset = readAckOffset(reply.response);
      if (offset !== undefined && !this.options.config?.broadcast?.self) this.ownOffsets.add(offset);
      item.resolve({ offset });
    });
  }

  private sendTrack(): void {
    const waiters = this.trackWaiters.splice(0);
    const ref = this.host.connection.makeRef();
    const payload = { type: 'presence', event: 'track', payload: this.trackedState };
    this.host.connection.request(this.message(FeatureEvent.presence, payload, ref), ref, (reply) => {
      for (const waiter of waiters) {
        if (reply.status === 'ok') waiter.resolve();
        else waiter.reject(replyError(reply, `tracking presence on "${this.name}"`));
      }
    });
  }

  private receiveBroadcast(payload: Record<string, unknown>): void {
    const meta = (payload['meta'] ?? {}) as Record<string, unknown>;
    const { id, offset, replayed } = readBroadcastMeta(meta);
    if (offset !== undefined) {
      if (this.offset !== undefined && offset <= this.offset) return;
      this.offset = offset;
      const own = this.ownOffsets.delete(offset);
      for (const earlier of this.ownOffsets) if (earlier < offset) this.ownOffsets.delete(earlier);
      if (own) return;
    }
    this.listeners.dispatchBroadcast({
      type: 'broadcast',
      event: String(payload['event'] ?? ''),
      payload: payload['payload'],
      meta,
      offset,
      id,
      replayed,
    });
  }

  private joinPayload(): JoinPayload {
    return joinPayload({
      options: this.options,
      offset: this.offset,
      changePosition: this.changePosition,
      presence: { key: this.presenceKey, enabled: this.presenceEnabled() },
      bindings: this.listeners.tableBindings(),
      token: this.host.connection.accessToken,
    });
  }

  private presenceEnabled(): boolean {
    return this.listeners.hasPresence || this.trackedState !== undefined;
  }

  /** What the join asks for, to tell when a rejoin is needed. */
  private signature(): string {
    return JSON.stringify([this.presenceEnabled(), this.presenceKey ?? '', this.listeners.tableBindings()]);
  }

  private message(event: string, payload: unknown, ref: string): Message {
    return { joinRef: this.joinRef, ref, topic: this.topic, event, payload };
  }

  private emit(status: SubscribeStatus, error?: RealtimeError): void {
    for (const callback of [...this.statusCallbacks]) callback(status, error);
  }

  private assertUsable(): void {
    if (this.removed) throw this.closedError();
  }

  private closedError(): RealtimeError {
    return new RealtimeError('CLOSED', `channel "${this.name}" is closed; get a new one with client.channel("${this.name}")`);
  }
}
