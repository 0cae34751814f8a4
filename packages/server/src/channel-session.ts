// One joined channel of one socket: its identity, options and subscriptions, and how it is shut down.
import type { Channel, Message as StoredMessage } from '@nself/db';
import { ChannelEvent, FeatureEvent, SystemMessage } from '@nself/protocol';
import type { Identity } from './auth.js';
import type { BroadcastSubscriber } from './broadcast-feed.js';
import type { ClientSocket } from './client-socket.js';
import type { ServerContext } from './context.js';
import type { Expiring } from './expiry-watch.js';
import type { PostgresChangesSubscription } from './postgres-changes.js';
import type { PresenceMap, PresenceSubscriber } from './presence-feed.js';
import { endSessions } from './presence-store.js';
import { sharedHead, type SharedHead } from './shared-frames.js';

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

/** A channel joined on a socket. */
export class JoinedChannel implements BroadcastSubscriber, PresenceSubscriber, Expiring {
  /** True once the client tracked presence here. */
  tracked = false;
  postgresChanges: PostgresChangesSubscription | undefined;
  /** The second under which the token expiry is filed in the server's expiry watch. */
  private expirySecond: number | undefined;
  private disposed = false;
  /** While a resume replay runs, live broadcasts wait here. */
  private held: StoredMessage[] | undefined;
  private replayedUpTo = 0;
  /** The head of live broadcasts sent here (join ref null, as Supabase sends them). */
  private readonly broadcastHead: SharedHead;

  constructor(
    private readonly ctx: ServerContext,
    readonly socket: ClientSocket,
    readonly topic: string,
    readonly subTopic: string,
    readonly joinRef: string | null,
    readonly channel: Channel,
    readonly options: ChannelOptions,
    public identity: Identity,
  ) {
    this.broadcastHead = sharedHead(socket.info.version, topic, FeatureEvent.broadcast, null);
  }

  /**
   * Starts delivery: broadcasts (held back while `resuming`), presence, and the watch of the token's expiry.
   * Returns the offset after which live broadcasts reach this channel.
   */
  start(resuming: boolean): number {
    if (resuming) this.held = [];
    const liveAfter = this.ctx.broadcasts.subscribe(this.channel.id, this, this.channel.lastOffset);
    if (this.options.presence) this.ctx.presence.subscribe(this.channel.id, this);
    this.scheduleExpiry();
    this.ctx.metrics.channels.inc();
    return liveAfter;
  }

  /** Sends replayed messages (marked `replayed`), then the live ones that arrived meanwhile, without duplicates. */
  finishResume(replayed: readonly StoredMessage[]): void {
    for (const message of replayed) this.sendStored(message, true);
    this.replayedUpTo = replayed.at(-1)?.offset ?? 0;
    const held = this.held ?? [];
    this.held = undefined;
    for (const message of held) this.deliverBroadcast(message);
  }

  deliverBroadcast(message: StoredMessage): void {
    if (this.held) {
      this.held.push(message);
      return;
    }
    if (message.offset <= this.replayedUpTo) return;
    this.sendStored(message, false);
  }

  sendPresenceState(state: PresenceMap): void {
    this.push(FeatureEvent.presenceState, state, this.joinRef);
  }

  sendPresenceDiff(diff: { joins: PresenceMap; leaves: PresenceMap }): void {
    this.push(FeatureEvent.presenceDiff, diff, null);
    this.ctx.metrics.messagesOut.inc({ kind: 'presence_diff' });
  }

  /** Sends a `system` message on this channel, with any `extra` fields after the usual ones. */
  system(extension: 'system' | 'postgres_changes', status: 'ok' | 'error', message: string, extra: Record<string, unknown> = {}): void {
    this.push(FeatureEvent.system, { extension, status, message, channel: this.subTopic, ...extra }, this.joinRef);
  }

  /** Pushes an event on this channel. */
  push(event: string, payload: unknown, joinRef: string | null): void {
    this.socket.send({ joinRef, ref: null, topic: this.topic, event, payload });
  }

  /** Replaces the identity (after an `access_token` message) and watches the new token's expiry. */
  async setIdentity(identity: Identity): Promise<void> {
    this.identity = identity;
    this.scheduleExpiry();
    await this.postgresChanges?.updateIdentity(identity);
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
    this.ctx.broadcasts.unsubscribe(this.channel.id, this);
    if (this.options.presence) this.ctx.presence.unsubscribe(this.channel.id, this);
    if (this.socket.channels.get(this.topic) === this) this.socket.channels.delete(this.topic);
    this.ctx.metrics.channels.dec();
    void this.postgresChanges?.close().catch((error: unknown) => this.ctx.logger.error({ err: error }, 'closing a postgres_changes subscription failed'));
    if (options.endPresence && this.tracked) {
      endSessions(this.ctx.pool, [this.socket.id], this.channel.id).catch((error: unknown) => {
        this.ctx.logger.error({ err: error, channel: this.channel.slug }, 'ending presence failed');
      });
    }
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private sendStored(message: StoredMessage, replayed: boolean): void {
    if (replayed) this.socket.sendReplayed(this.topic, this.joinRef, message);
    else this.socket.sendBroadcast(this.broadcastHead, message);
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
    if (expiresAt !== null) this.expirySecond = this.ctx.expiries.schedule(this, expiresAt);
  }

  private cancelExpiry(): void {
    if (this.expirySecond === undefined) return;
    this.ctx.expiries.cancel(this, this.expirySecond);
    this.expirySecond = undefined;
  }
}
