// One joined channel of one socket: its identity, options and subscriptions, and how it is shut down.
import { endSessions, type Channel, type ChannelType, type Message as StoredMessage, type Pool, type TopicGrants } from '@nself/db';
import {
  ChannelEvent,
  FeatureEvent,
  MESSAGE_DELETED_EVENT,
  SystemMessage,
  type Message,
  type MessageDeleted,
  type ProtocolVersion,
  type SystemPayload,
  type SystemPayloadExtras,
} from '@nself/protocol';
import type { AccessWatch, WatchedChannel } from './access-watch.js';
import type { Identity } from '../auth/auth.js';
import type { BroadcastFeed, BroadcastSubscriber } from '../broadcast/broadcast-feed.js';
import type { HistoryReads, StreamRange } from '../broadcast/history-reads.js';
import type { ServerConfig } from '../config.js';
import type { ExpiryWatch, Expiring } from './expiry-watch.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { PostgresChangesSubscription } from '../table-changes/postgres-changes.js';
import type { PresenceFeed, PresenceMap, PresenceSubscriber } from '../presence/presence-feed.js';
import { SharedFrames, sharedHead, type SharedHead } from '../shared-frames.js';
import { catchUpThenGoLive } from '../log-tail.js';
import { LogCode } from '../log-codes.js';

/** The bytes a streaming replay lets wait in a socket's send buffer (at most half the buffer's cap). */
const STREAM_BUFFER_BYTES = 1_048_576;

/** The channel options of a join (`config` of phx_join). */
export interface ChannelOptions {
  /** Deliver the client's own broadcasts back to it. */
  readonly self: boolean;
  /** Reply to each broadcast once it is stored. */
  readonly ack: boolean;
  /** presence_state and presence_diff are sent. */
  readonly presence: boolean;
  /** The client asked for a private channel. */
  readonly private: boolean;
  /** Presence key viewers see: the configured key, else the user id, else a random id for this join (stored presence is the token's user). */
  readonly presenceKey: string;
}

/** The parts of the server a joined channel registers with, reads from and reports to. */
export interface JoinedChannelDeps {
  readonly config: Pick<ServerConfig, 'limits'>;
  readonly pool: Pool;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly access: AccessWatch;
  readonly broadcasts: Pick<BroadcastFeed, 'subscribe' | 'unsubscribe'>;
  readonly presence: Pick<PresenceFeed, 'subscribe' | 'unsubscribe'>;
  readonly history: Pick<HistoryReads, 'streamPage'>;
  readonly expiries: Pick<ExpiryWatch, 'schedule' | 'cancel'>;
}

/** What a joined channel needs of the socket it was joined on. */
export interface ChannelSocket {
  readonly id: string;
  readonly info: { readonly version: ProtocolVersion };
  send(message: Message): void;
  sendBroadcast(head: SharedHead, message: StoredMessage, frames: SharedFrames): void;
  sendReplayed(topic: string, joinRef: string | null, message: StoredMessage, frames: SharedFrames): void;
  /** Resolves true once the socket's send buffer holds at most `bytes`, false when it closed first. */
  drained(bytes: number): Promise<boolean>;
  removeChannel(channel: JoinedChannel): void;
}

/**
 * What the handlers of a client's channel messages (join, leave, broadcast, presence) need of the socket the
 * message arrived on: the client socket is one, and declaring it here keeps channel/ from importing socket/.
 */
export interface MessageSocket extends ChannelSocket {
  readonly info: { readonly id: string; readonly version: ProtocolVersion; readonly identity: Identity };
  /** The socket's rate windows of joins and of messages: `take()` counts one, false when over the limit. */
  readonly joins: { take(): boolean };
  readonly messages: { take(): boolean };
  readonly channels: ReadonlyMap<string, JoinedChannel>;
  /** Holds one of the socket's channel places until released; undefined when every place is taken. */
  reserveChannel(): (() => void) | undefined;
  addChannel(channel: JoinedChannel): void;
  reply(request: Message, status: 'ok' | 'error', response: unknown): void;
  close(code: number, reason: string): void;
  sendShared(frames: SharedFrames, head: SharedHead, payloadOf: () => unknown, stringify?: (value: unknown) => string): void;
}

/** A channel joined on a socket. */
export class JoinedChannel implements BroadcastSubscriber, PresenceSubscriber, Expiring, WatchedChannel {
  /** True while the client's presence is tracked here. */
  private presenceTracked = false;
  /** The channel's table changes, when its join had bindings. */
  private changes: PostgresChangesSubscription | undefined;
  /** The second under which the token expiry is filed in the server's expiry watch. */
  private expirySecond: number | undefined;
  private disposed = false;
  /**
   * While the stored messages a join asked for stream: the newest offset the feed delivered here
   * meanwhile (such messages are sent from the log instead), and the offsets of this channel's own
   * broadcasts without `self`, which the stream leaves out.
   */
  private streaming: { liveSeen: number; readonly own: Set<number> } | undefined;
  /** Live broadcasts up to this offset were streamed from the log already, or precede what the join asked for. */
  private streamedUpTo = 0;
  /** The head of live broadcasts sent here (join ref null, as Supabase sends them). */
  private readonly broadcastHead: SharedHead;
  /** Re-checks of access in flight: broadcasts wait until none is left. */
  private accessChecks = 0;
  /** Every message up to this offset committed before the last check of access (the join's, or a full re-check). */
  private accessCheckedThrough: number;
  /** Broadcasts (live or replayed) waiting for access to allow them, in offset order. */
  private readonly accessHeld: Array<{ readonly message: StoredMessage; readonly replayed: boolean; readonly frames: SharedFrames }> = [];

  constructor(
    private readonly deps: JoinedChannelDeps,
    readonly socket: ChannelSocket,
    readonly topic: string,
    readonly subTopic: string,
    readonly joinRef: string | null,
    /** The channel's row as of the last check of access (its type follows the re-checks). */
    private row: Channel,
    readonly options: ChannelOptions,
    public identity: Identity,
    /**
     * What the row-level security policies on realtime.messages let this client do here, when they are
     * what admitted it to a private channel; null when it may do all the channel allows.
     */
    private grants: TopicGrants | null,
  ) {
    this.broadcastHead = sharedHead(socket.info.version, topic, FeatureEvent.broadcast, null);
    this.accessCheckedThrough = row.lastOffset;
  }

  /**
   * Starts delivery: broadcasts (sent from the log while `streaming`), presence, and the watches of the
   * token's expiry and of access (`accessSince` is the access watch's `beginJoin` from before the join's check).
   * Returns the offset after which live broadcasts reach this channel.
   */
  start(streaming: boolean, accessSince: number): number {
    if (streaming) this.streaming = { liveSeen: 0, own: new Set() };
    this.deps.access.register(this, accessSince);
    const liveAfter = this.deps.broadcasts.subscribe(this.row.id, this, this.row.lastOffset);
    if (this.options.presence) this.deps.presence.subscribe(this.row.id, this);
    this.scheduleExpiry();
    this.deps.metrics.channels.inc();
    return liveAfter;
  }

  /**
   * Streams the stored messages a join asked for (marked `replayed`) from `start`, a page at a time,
   * each message written once the socket has drained to its share of the send buffer, so a replay
   * never holds more than a page here nor fills the buffer past its cap. Then the live stream takes
   * over with no gap and no duplicate: live messages that arrived meanwhile are read from the log
   * too. Stops early when the channel or socket closes; rejects when a page cannot be read.
   */
  async streamHistory(start: { cursor: number; range: StreamRange }, liveAfter: number): Promise<void> {
    const streaming = this.streaming;
    if (!streaming) return;
    const buffered = Math.min(STREAM_BUFFER_BYTES, Math.floor(this.deps.config.limits.maxSendBufferBytes / 2));
    let cursor = start.cursor;
    await catchUpThenGoLive({
      get cursor() {
        return cursor;
      },
      liveThrough: () => Math.max(liveAfter, streaming.liveSeen),
      readPage: async () => {
        const page = await this.deps.history.streamPage(this.row.id, start.range, cursor);
        if (page.entries.length === 0) return 'ended';
        for (const { message, frames } of page.entries) {
          if (!(await this.socket.drained(buffered)) || this.disposed) return 'stopped';
          if (!streaming.own.has(message.offset)) this.sendStored(message, true, frames);
          cursor = message.offset;
        }
        return 'read';
      },
      goLive: () => {
        this.streamedUpTo = cursor;
        this.streaming = undefined;
      },
    });
  }

  deliverBroadcast(message: StoredMessage, frames: SharedFrames): void {
    if (this.streaming) {
      this.streaming.liveSeen = message.offset;
      return;
    }
    if (message.offset <= this.streamedUpTo) return;
    this.sendStored(message, false, frames);
  }

  passBroadcast(message: StoredMessage): void {
    if (!this.streaming) return;
    this.streaming.liveSeen = message.offset;
    this.streaming.own.add(message.offset);
  }

  /** A message was deleted by a moderator: it leaves the broadcasts held back here, or the client is told with `message_deleted`. */
  deleteBroadcast(deleted: MessageDeleted): void {
    if (this.grants && !this.grants.broadcast.read) return;
    const held = this.accessHeld.findIndex((entry) => entry.message.offset === deleted.offset);
    if (held >= 0) {
      this.accessHeld.splice(held, 1);
      return;
    }
    this.push(MESSAGE_DELETED_EVENT, { id: deleted.id, offset: deleted.offset } satisfies MessageDeleted, null);
  }

  /** The id of the joined channel (realtime.channels.id). */
  get channelId(): string {
    return this.row.id;
  }

  /** The channel's row as of the last check of access. */
  get record(): Channel {
    return this.row;
  }

  /** What the policies on realtime.messages admitted this client to (null: not admitted by them). */
  get policyGrants(): TopicGrants | null {
    return this.grants;
  }

  /** True while the client's presence is tracked here. */
  get tracked(): boolean {
    return this.presenceTracked;
  }

  /** The client's presence was stored as tracked (true) or untracked (false). */
  setTracked(tracked: boolean): void {
    this.presenceTracked = tracked;
  }

  /** Takes the join's table changes subscription; one made for a channel already gone is closed. */
  async attachChanges(subscription: PostgresChangesSubscription | undefined): Promise<void> {
    if (this.disposed) await subscription?.close();
    else this.changes = subscription;
  }

  sendPresenceState(state: PresenceMap): void {
    if (!this.receivesPresence) return;
    this.push(FeatureEvent.presenceState, state, this.joinRef);
  }

  sendPresenceDiff(diff: { joins: PresenceMap; leaves: PresenceMap }): void {
    if (!this.receivesPresence) return;
    this.push(FeatureEvent.presenceDiff, diff, null);
    this.deps.metrics.messagesOut.inc({ kind: 'presence_diff' });
  }

  /** Sends a `system` message on this channel, with any `extra` fields after the usual ones. */
  system(extension: SystemPayload['extension'], status: SystemPayload['status'], message: string, extra: SystemPayloadExtras = {}): void {
    this.push(FeatureEvent.system, { extension, status, message, channel: this.subTopic, ...extra } satisfies SystemPayload, this.joinRef);
  }

  /** Pushes an event on this channel. */
  push(event: string, payload: unknown, joinRef: string | null): void {
    this.socket.send({ joinRef, ref: null, topic: this.topic, event, payload });
  }

  /** Replaces the identity (after an `access_token` message) and what the policies grant it, and watches the new token's expiry. */
  async setIdentity(identity: Identity, grants: TopicGrants | null): Promise<void> {
    this.identity = identity;
    this.grants = grants;
    this.scheduleExpiry();
    await this.changes?.updateIdentity(identity);
  }

  /** A re-check of access starts: broadcasts wait for its outcome. */
  holdForAccessCheck(): void {
    this.accessChecks++;
  }

  /**
   * A re-check of access let the channel go on (or gave up, with no outcome): the channel's current type,
   * and after a full re-check the offset through which messages committed before it.
   */
  accessCheckDone(outcome: { type: ChannelType; checkedThrough?: number } | undefined): void {
    this.accessChecks--;
    if (outcome) {
      if (outcome.type !== this.row.type) this.row = { ...this.row, type: outcome.type };
      if (outcome.checkedThrough !== undefined) this.accessCheckedThrough = Math.max(this.accessCheckedThrough, outcome.checkedThrough);
    }
    this.releaseHeld();
  }

  /** A re-check of access found it lost: the held broadcasts are dropped and the channel shut down with `message`. */
  revoke(message: string): void {
    this.accessChecks--;
    this.accessHeld.length = 0;
    this.shutdown(message);
  }

  /** Sends the held broadcasts that access now allows, in order. */
  releaseHeld(): void {
    while (this.accessHeld.length > 0) {
      const first = this.accessHeld[0];
      if (!first || !this.accessAllows(first.message.offset)) return;
      this.accessHeld.shift();
      this.send(first.message, first.replayed, first.frames);
    }
    this.deps.access.stopsHolding(this);
  }

  /** Shuts the channel down from the server side: a system error, then `phx_close`. */
  shutdown(message: string): void {
    if (this.disposed) return;
    this.system('system', 'error', message);
    this.close();
  }

  /** Sends `phx_close` for this incarnation (both refs are its join ref) and disposes of it. */
  close(): void {
    this.socket.send({ joinRef: this.joinRef, ref: this.joinRef, topic: this.topic, event: ChannelEvent.close, payload: {} });
    this.dispose({ endPresence: true });
  }

  /**
   * Stops delivery and forgets the channel. With `endPresence`, this connection's presence in the
   * channel ends now (on socket close it is ended for all channels at once instead).
   */
  dispose(options: { endPresence: boolean }): void {
    if (this.disposed) return;
    this.disposed = true;
    this.cancelExpiry();
    this.accessHeld.length = 0;
    this.deps.access.unregister(this);
    this.deps.broadcasts.unsubscribe(this.row.id, this);
    if (this.options.presence) this.deps.presence.unsubscribe(this.row.id, this);
    this.socket.removeChannel(this);
    this.deps.metrics.channels.dec();
    void this.changes
      ?.close()
      .catch((error: unknown) => this.deps.logger.error({ code: LogCode.postgresChangesCloseFailed, err: error }, 'closing a postgres_changes subscription failed'));
    if (options.endPresence && this.presenceTracked) {
      endSessions(this.deps.pool, [this.socket.id], this.row.id).catch((error: unknown) => {
        this.deps.logger.error({ code: LogCode.presenceEndFailed, err: error, channel: this.row.slug }, 'ending presence failed');
      });
    }
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Sends a stored message now when access allows it and nothing waits before it; else it waits. */
  private sendStored(message: StoredMessage, replayed: boolean, frames: SharedFrames): void {
    if (this.accessHeld.length === 0 && this.accessAllows(message.offset)) return this.send(message, replayed, frames);
    if (this.accessHeld.length === 0) this.deps.access.startsHolding(this);
    this.accessHeld.push({ message, replayed, frames });
  }

  /**
   * Whether access allows a message now: no re-check in flight, and in a private channel the message is
   * known to have committed before the last check, or the listener has seen it (and so every access
   * change before it).
   */
  private accessAllows(offset: number): boolean {
    if (this.accessChecks > 0) return false;
    if (this.row.type !== 'private') return true;
    return offset <= this.accessCheckedThrough || offset <= this.deps.access.notifiedThrough(this.row.id);
  }

  private send(message: StoredMessage, replayed: boolean, frames: SharedFrames): void {
    if (this.grants && !this.grants.broadcast.read) return;
    if (replayed) this.socket.sendReplayed(this.topic, this.joinRef, message, frames);
    else this.socket.sendBroadcast(this.broadcastHead, message, frames);
  }

  /** Presence reaches this client unless the policies that admitted it do not let it read presence. */
  private get receivesPresence(): boolean {
    return !this.grants || this.grants.presence.read;
  }

  /** Called by the expiry watch once the token's expiry second has passed. */
  expire(): void {
    this.expirySecond = undefined;
    if (this.disposed) return;
    if (this.identity.expiresAt !== null && this.identity.expiresAt * 1000 <= Date.now()) {
      this.shutdown(SystemMessage.tokenExpired(Math.floor(Date.now() / 1000 - this.identity.expiresAt)));
    } else {
      this.scheduleExpiry();
    }
  }

  private scheduleExpiry(): void {
    this.cancelExpiry();
    const expiresAt = this.identity.expiresAt;
    if (expiresAt !== null) this.expirySecond = this.deps.expiries.schedule(this, expiresAt);
  }

  private cancelExpiry(): void {
    if (this.expirySecond === undefined) return;
    this.deps.expiries.cancel(this, this.expirySecond);
    this.expirySecond = undefined;
  }
}
