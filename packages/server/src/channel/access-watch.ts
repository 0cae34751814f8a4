// Keeps every joined channel's access current: re-checks them on `realtime:access` notifications and after
// the listener reconnects, closes those that lost access, and holds private channels' broadcasts until
// the listener has seen every access change committed before them.
//
// A trigger notifies `realtime:access` with ids only when a member is removed or changed, or a channel's
// type changes or the channel is deleted, and with `{"all": true}` when either table is
// truncated, which re-checks every joined channel as a reconnect does. Notifications of
// one listener connection arrive in commit order and are handled here before the broadcast notifications
// that follow them. A broadcast of a private channel reaches a joined channel only once (a) no re-check of
// its access is in flight and (b) the message is known to have committed before the last check of its
// access (the join's, or a full re-check after a reconnect, read the channel's last offset in the same
// snapshot) or its own `realtime:broadcast` notification (one whose MAC verifies, when the server has the
// database's note keys: a login may NOTIFY) has arrived, so every access change committed
// before it has been seen. A message stored after a member's removal therefore never reaches that member,
// whichever path (notification, this process's own send, a read back) brings it. A join's check races the
// notifications that arrive while it runs: those are recorded, and the joined channel is re-checked when it
// registers.
import { channelAccess, type ChannelAccess, type ChannelType, type Pool, type TopicGrants } from '@nself/db';
import { SystemMessage } from '@nself/protocol';
import type { Identity } from '../auth/auth.js';
import { passesMembership } from './channel-access.js';
import type { Logger } from '../logger.js';
import { LogCode } from '../log-codes.js';

/**
 * What the NOTIFY on `realtime:access` says: the channel, and the user when one membership changed; or
 * `all` when a TRUNCATE may have changed any channel.
 */
export type AccessNotification = { readonly all: true } | { readonly channel_id: string; readonly user_id?: string };

const RETRY_MS = 500;

/** A joined channel as the watch sees it: who holds it, and how it is told the outcome of a re-check. */
export interface WatchedChannel {
  readonly channelId: string;
  readonly subTopic: string;
  readonly identity: Identity;
  readonly policyGrants: TopicGrants | null;
  readonly isDisposed: boolean;
  /** A re-check starts: broadcasts wait for its outcome. */
  holdForAccessCheck(): void;
  /** The re-check let the channel go on (or gave up, with undefined): its current type, and after a full re-check the offset through which messages committed before it. */
  accessCheckDone(outcome: { type: ChannelType; checkedThrough?: number } | undefined): void;
  /** The re-check found access lost: the channel shuts down with `message`. */
  revoke(message: string): void;
  /** Sends the broadcasts held back that access now allows. */
  releaseHeld(): void;
}

/** The live access checks of one server process's joined channels. */
export class AccessWatch {
  /** Channel id → its joined channels on this process. */
  private readonly joined = new Map<string, Set<WatchedChannel>>();
  /** Channel id → joined channels holding broadcasts back, released as notifications arrive. */
  private readonly holding = new Map<string, Set<WatchedChannel>>();
  /** Channel id → the highest offset whose `realtime:broadcast` notification arrived. */
  private readonly notified = new Map<string, number>();
  /** Joined channel → whether its queued check covers every joined channel (a full re-check). */
  private queued = new Map<WatchedChannel, boolean>();
  private checking = false;
  /** Counts access notifications (and reconnects), so that a join can tell which arrived during its check. */
  private sequence = 0;
  private joinsInFlight = 0;
  /** While joins are in flight: channel id → sequence of its latest access notification. */
  private readonly changedAt = new Map<string, number>();
  /** While joins are in flight: sequence of the latest reconnect or truncate, when every channel may have changed. */
  private everyChannelChangedAt = -1;

  constructor(
    private readonly pool: Pool,
    private readonly logger: Logger,
  ) {}

  /** Called before a join reads the channel and its membership; returns what `register` compares against. */
  beginJoin(): number {
    this.joinsInFlight++;
    return this.sequence;
  }

  /** Called once that join registered its channel or gave up. */
  endJoin(): void {
    this.joinsInFlight--;
    if (this.joinsInFlight > 0) return;
    this.changedAt.clear();
    this.everyChannelChangedAt = -1;
    for (const channelId of this.notified.keys()) if (!this.joined.has(channelId)) this.notified.delete(channelId);
  }

  /** Watches a joined channel; `since` is its join's `beginJoin`: access changed since then is re-checked now. */
  register(channel: WatchedChannel, since: number): void {
    const id = channel.channelId;
    let set = this.joined.get(id);
    if (!set) this.joined.set(id, (set = new Set()));
    set.add(channel);
    // After a reconnect or truncate during the join, messages may have been stored without a notification seen here: a full re-check.
    if (this.everyChannelChangedAt > since) this.recheck(channel, true);
    else if ((this.changedAt.get(id) ?? -1) > since) this.recheck(channel, false);
  }

  /** Stops watching a joined channel (it was closed). */
  unregister(channel: WatchedChannel): void {
    const id = channel.channelId;
    this.stopsHolding(channel);
    const set = this.joined.get(id);
    if (!set?.delete(channel) || set.size > 0) return;
    this.joined.delete(id);
    if (this.joinsInFlight === 0) this.notified.delete(id);
  }

  /** The highest offset of the channel whose broadcast notification arrived here (0 when none). */
  notifiedThrough(channelId: string): number {
    return this.notified.get(channelId) ?? 0;
  }

  /** A joined channel started holding broadcasts back: notifications of its channel release them. */
  startsHolding(channel: WatchedChannel): void {
    const id = channel.channelId;
    let set = this.holding.get(id);
    if (!set) this.holding.set(id, (set = new Set()));
    set.add(channel);
  }

  /** A joined channel holds nothing back any more. */
  stopsHolding(channel: WatchedChannel): void {
    const set = this.holding.get(channel.channelId);
    if (set?.delete(channel) && set.size === 0) this.holding.delete(channel.channelId);
  }

  /** Handles a `realtime:access` notification: the joined channels it concerns hold broadcasts back and are re-checked. */
  notify(note: AccessNotification): void {
    if ('all' in note) return this.recheckEveryChannel();
    this.sequence++;
    if (this.joinsInFlight > 0) this.changedAt.set(note.channel_id, this.sequence);
    for (const channel of this.joined.get(note.channel_id) ?? []) {
      if (note.user_id === undefined || channel.identity.userId === note.user_id) this.recheck(channel, false);
    }
  }

  /** Handles a `realtime:broadcast` notification (before the feed does): messages up to `offset` were seen after every access change before them. */
  witness(channelId: string, offset: number): void {
    if (!this.joined.has(channelId) && this.joinsInFlight === 0) return;
    if (offset > (this.notified.get(channelId) ?? 0)) this.notified.set(channelId, offset);
    const holding = this.holding.get(channelId);
    if (holding) for (const channel of [...holding]) channel.releaseHeld();
  }

  /** After the listener reconnected: access notifications may have been lost, so every joined channel is re-checked. */
  reconnected(): void {
    this.recheckEveryChannel();
  }

  /** Every joined channel, and every join in flight, holds broadcasts back and is re-checked in full. */
  private recheckEveryChannel(): void {
    this.sequence++;
    if (this.joinsInFlight > 0) this.everyChannelChangedAt = this.sequence;
    for (const set of this.joined.values()) for (const channel of set) this.recheck(channel, true);
  }

  /** Holds the channel's broadcasts back and queues a check of its access (one query answers all queued). */
  private recheck(channel: WatchedChannel, full: boolean): void {
    const queued = this.queued.get(channel);
    if (queued === undefined) channel.holdForAccessCheck();
    this.queued.set(channel, full || queued === true);
    if (this.checking) return;
    this.checking = true;
    setImmediate(() => void this.checkQueued());
  }

  private async checkQueued(): Promise<void> {
    while (this.queued.size > 0) {
      const batch = [...this.queued].filter(([channel]) => !channel.isDisposed).map(([channel, full]) => ({ channel, full, userId: channel.identity.userId }));
      this.queued = new Map();
      let access: Map<string, ChannelAccess>;
      try {
        access = await channelAccess(this.pool, unique(batch.map(({ channel }) => channel.channelId)), unique(batch.flatMap(({ userId }) => (userId ? [userId] : []))));
      } catch (error) {
        this.logger.error({ code: LogCode.accessRecheckFailed, err: error }, 're-checking channel access failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        for (const { channel, full } of batch) this.requeue(channel, full);
        continue;
      }
      for (const { channel, full, userId } of batch) {
        // A token of another user arrived meanwhile: that user is checked again.
        if (channel.identity.userId !== userId) this.requeue(channel, full);
        else this.apply(channel, access.get(channel.channelId), full);
      }
    }
    this.checking = false;
  }

  /** Queues a check again for a channel that still holds from the check that could not decide (one hold per queued check). */
  private requeue(channel: WatchedChannel, full: boolean): void {
    const queued = this.queued.get(channel);
    if (queued !== undefined) channel.accessCheckDone(undefined);
    this.queued.set(channel, full || queued === true);
  }

  /**
   * Closes the joined channel when its channel is gone, or private and it neither a member, the service
   * role, nor admitted by the policies on realtime.messages (judged at join and token refresh, as on Supabase); else lets it go on.
   */
  private apply(channel: WatchedChannel, access: ChannelAccess | undefined, full: boolean): void {
    if (channel.isDisposed) return;
    if (!access) return channel.revoke(SystemMessage.channelDeleted(channel.subTopic));
    const userId = channel.identity.userId;
    if (access.type === 'private' && !passesMembership(channel.identity) && !(userId && access.members.has(userId)) && !channel.policyGrants) {
      return channel.revoke(SystemMessage.permissionRevoked(channel.subTopic));
    }
    channel.accessCheckDone({ type: access.type, ...(full ? { checkedThrough: access.lastOffset } : {}) });
  }
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
