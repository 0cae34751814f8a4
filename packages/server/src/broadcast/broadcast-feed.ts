// Delivers each channel's stored broadcasts to this process's subscribers, once each and in offset order.
//
// Every broadcast is stored by realtime.append_message(s), which gives it the channel's next offset and
// sends a NOTIFY with the message's id and offset (any database login may LISTEN), and, from a server's
// appends to a public channel (REALTIME_BROADCAST_NOTIFY_PAYLOADS), the message itself when it fits,
// signed with a key only the server's role can read (@nself/db's NoteKeys). This process learns of a
// message from that NOTIFY (any source, any process) and reads it back from realtime.messages unless the
// notification carried it and its signature verified, or, for its own clients' sends, has it right
// after the INSERT commits. Per channel it keeps the last offset it delivered; a message is delivered
// only when it is the next offset (a carried one too: one that arrives ahead of a gap waits for it),
// and what is missing is read back in one page per channel for every notification that came meanwhile
// (offsets commit in order, so a notified offset N means all below N are readable), bounded in rows
// and bytes; after the listener reconnects every channel is read from its last offset. A sender that
// did not ask for `self` is recorded against the message id before the commit, so whichever path
// delivers the message first, the sender never gets it back.
import { randomUUID } from 'node:crypto';
import { carriedMessage, type BroadcastLog, type BroadcastNote, type NoteKeys, type Message as StoredMessage } from '@nself/db';
import { KeyedBatches, type Waiting } from '../batches.js';
import { HISTORY_PAGE_BYTES } from './history-reads.js';
import { SharedFrames } from '../shared-frames.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { LogCode } from '../log-codes.js';

/** A joined channel of one socket, as the feed sees it (each join is its own subscriber). */
export interface BroadcastSubscriber {
  /** Delivers a message; `frames` is this delivery of it, shared by every subscriber of the channel here, which encode it once per variant. */
  deliverBroadcast(message: StoredMessage, frames: SharedFrames): void;
  /** Told instead of `deliverBroadcast` of a message it must not receive (its own, sent without `self`). */
  passBroadcast?(message: StoredMessage): void;
  /** Told that a message delivered to it was deleted (by a moderator). */
  deleteBroadcast?(deleted: { readonly id: string; readonly offset: number }): void;
}

/** A broadcast to store, from a client of this process, the REST endpoint, or the server itself. */
export interface OutgoingBroadcast {
  readonly channelId: string;
  readonly event: string;
  readonly payload: unknown;
  readonly binary: Buffer | null;
  readonly sender: string | null;
  /** The subscriber that sent it and did not ask for `self`. */
  readonly exclude?: BroadcastSubscriber;
}

/** A broadcast waiting for its channel's write in flight, with its caller's promise. */
type QueuedWrite = Waiting<OutgoingBroadcast, StoredMessage>;

interface ChannelFeed {
  readonly channelId: string;
  /** Offset of the newest message delivered here. */
  lastOffset: number;
  readonly subscribers: Set<BroadcastSubscriber>;
  /** Known offsets not yet delivered: the full row (this process stored it), or null when only its notification came. */
  readonly pending: Map<number, StoredMessage | null>;
  /** Offsets deleted before this feed delivered them: never delivered, whichever read brings them. */
  readonly deleted: Set<number>;
  /** Message id → the subscriber that must not receive it (`self: false`). */
  readonly withheldFrom: Map<string, BroadcastSubscriber>;
  /** The log must be read even with nothing pending: on the first drain, after a reconnect or a failed drain, and after a full page. */
  readLog: boolean;
  /** A drain is running; drains asked meanwhile set `drainAgain` instead of starting another. */
  draining: boolean;
  /** A drain was asked while one ran: the running one goes round once more. */
  drainAgain: boolean;
}

/** Most messages, and payload bytes, read back for a channel at once. */
const FETCH_LIMIT = 1000;
const FETCH_BYTES = HISTORY_PAGE_BYTES;
/** The most broadcasts of one channel stored in one transaction. */
const MAX_BATCH = 100;
const RETRY_MS = 500;

/** The per-channel ordered fan-out of stored broadcasts for one server process. */
export class BroadcastFeed {
  private readonly feeds = new Map<string, ChannelFeed>();
  /**
   * Writes per channel (group commit): broadcasts sent to a channel while its write is in flight are
   * queued, in the order of the calls, and stored together by the next write, at most MAX_BATCH in one statement.
   */
  private readonly writes = new KeyedBatches<OutgoingBroadcast, StoredMessage>({
    start: 'now',
    maxBatch: MAX_BATCH,
    run: async (_channelId, batch) => {
      if (!(await this.storeBatch(batch)) && batch.length > 1) {
        // One bad message must not fail the others: each is tried in its own transaction.
        for (const write of batch) await this.storeBatch([write]);
      }
    },
  });
  /** Sends accepted and not yet settled, and who waits for there to be none (`closeWrites`). */
  private unsettled = 0;
  private readonly settledWaiters: Array<() => void> = [];
  private writesClosed = false;

  /**
   * `log` stores and reads back the channels' messages (PostgreSQL's realtime.messages in a server).
   * With `noteKeys`, messages that notifications carry are delivered without reading them back when
   * the note's MAC verifies; a note that does not (forged, altered, copied elsewhere) counts as a
   * position only, as every note does without `noteKeys`: a login that may NOTIFY cannot inject messages.
   */
  constructor(
    private readonly log: BroadcastLog,
    private readonly logger: Logger,
    private readonly metrics: Pick<Metrics, 'messagesOut' | 'deliveryLatency' | 'broadcastLogReads' | 'broadcastsCarried' | 'broadcastNotesRefused'>,
    private readonly noteKeys?: NoteKeys,
  ) {}

  /**
   * Adds a subscriber. `knownOffset` is the channel's last offset as read during the join, before
   * its reply: a channel new to this process starts there, so nothing committed after the reply is
   * missed; on a channel already followed, the subscriber receives what this process has not yet delivered.
   * Returns the offset after which the subscriber receives every message.
   */
  subscribe(channelId: string, subscriber: BroadcastSubscriber, knownOffset: number): number {
    const existing = this.feeds.get(channelId);
    if (existing) {
      existing.subscribers.add(subscriber);
      return existing.lastOffset;
    }
    const feed: ChannelFeed = {
      channelId,
      lastOffset: knownOffset,
      subscribers: new Set([subscriber]),
      pending: new Map(),
      deleted: new Set(),
      withheldFrom: new Map(),
      readLog: true,
      draining: false,
      drainAgain: false,
    };
    this.feeds.set(channelId, feed);
    // A message committed after `knownOffset` was read, but notified before this feed existed, is read back now.
    void this.drain(feed);
    return knownOffset;
  }

  /** Removes a subscriber; the channel's state is dropped with its last subscriber. */
  unsubscribe(channelId: string, subscriber: BroadcastSubscriber): void {
    const feed = this.feeds.get(channelId);
    if (!feed) return;
    feed.subscribers.delete(subscriber);
    if (feed.subscribers.size === 0) this.feeds.delete(channelId);
  }

  /**
   * Stores a broadcast and delivers it here at once. Resolves once it is committed. Broadcasts sent to
   * one channel while an earlier write to it is in flight are queued, in the order of the calls, and
   * stored together in one statement (group commit): they get consecutive offsets in that order,
   * and each caller's promise settles after the commit with its own message.
   */
  send(outgoing: OutgoingBroadcast): Promise<StoredMessage> {
    return this.tracked(() => this.writes.request(outgoing.channelId, outgoing));
  }

  /**
   * Stores broadcasts of any channels in one transaction, all or none (a REST batch), then delivers
   * them here. Resolves with the stored messages in the order given once they are committed.
   */
  sendAll(outgoing: readonly OutgoingBroadcast[]): Promise<StoredMessage[]> {
    return this.tracked(async () => {
      const stored = await this.log.appendAcrossChannels(
        outgoing.map((message) => ({
          id: randomUUID(),
          channelId: message.channelId,
          event: message.event,
          payload: message.binary ? null : message.payload,
          payloadBinary: message.binary,
          sender: message.sender,
        })),
      );
      for (const message of stored) this.accept(this.feeds.get(message.channelId), message);
      return stored;
    });
  }

  /**
   * Refuses every send from now on (shutdown), and resolves once each broadcast accepted before is
   * committed or failed and its caller's promise settled, so its ack can go out before the socket closes.
   */
  async closeWrites(): Promise<void> {
    this.writesClosed = true;
    if (this.unsettled > 0) await new Promise<void>((resolve) => this.settledWaiters.push(resolve));
    // Let the callers' own reactions to their settled promises (the acks) run first.
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Starts `start`'s write and counts it as unsettled until it settles; refused once writes are closed. */
  private tracked<T>(start: () => Promise<T>): Promise<T> {
    if (this.writesClosed) return Promise.reject(new Error('the server is shutting down and stores no more broadcasts'));
    const write = start();
    this.unsettled += 1;
    const settle = () => {
      this.unsettled -= 1;
      if (this.unsettled === 0) for (const resolve of this.settledWaiters.splice(0)) resolve();
    };
    write.then(settle, settle);
    return write;
  }

  /**
   * Stores `batch` (broadcasts of one channel) in one statement, then delivers each message here and
   * settles each caller with it. Returns false when the statement failed (a lone write is then
   * rejected with the error). Senders without `self` are recorded against their message ids before
   * the statement runs, since its notifications may arrive before its reply.
   */
  private async storeBatch(batch: readonly QueuedWrite[]): Promise<boolean> {
    const channelId = batch[0]?.request.channelId ?? '';
    const feed = this.feeds.get(channelId);
    const ids = batch.map(() => randomUUID());
    batch.forEach(({ request: outgoing }, index) => {
      if (feed && outgoing.exclude) feed.withheldFrom.set(ids[index] as string, outgoing.exclude);
    });
    let stored: StoredMessage[];
    try {
      stored = await this.log.append(
        channelId,
        batch.map(({ request: outgoing }, index) => ({
          id: ids[index] as string,
          event: outgoing.event,
          payload: outgoing.binary ? null : outgoing.payload,
          payloadBinary: outgoing.binary,
          sender: outgoing.sender,
        })),
      );
    } catch (error) {
      for (const id of ids) feed?.withheldFrom.delete(id);
      if (batch.length > 1) return false;
      batch[0]?.reject(error);
      return true;
    }
    stored.forEach((message, index) => {
      this.accept(this.feeds.get(channelId), message);
      batch[index]?.resolve(message);
    });
    return true;
  }

  /**
   * Whether a `realtime:broadcast` notification (`text` as sent, `note` its parse) is a server's: its
   * MAC verifies under the database's note keys. Without keys every note counts as one (and none is
   * taken for its message). One that does not verify is counted in
   * `realtime_broadcast_notes_refused_total`: a login that may NOTIFY sent it, or a path that could not
   * read the key.
   */
  authentic(note: BroadcastNote, text: string): boolean {
    if (!this.noteKeys) return true;
    if (this.noteKeys.verifies(text, note)) return true;
    this.metrics.broadcastNotesRefused.inc();
    return false;
  }

  /**
   * Handles a `realtime:broadcast` notification: the message an `authentic` one carries is delivered at
   * its turn (after the channel's last delivered offset, any gap before it read from the log first);
   * any other is a position only, read back with the channel's next read.
   */
  notify(note: BroadcastNote, authentic: boolean): void {
    const feed = this.feeds.get(note.channel_id);
    if (!feed) return;
    const carried = authentic && this.noteKeys ? carriedMessage(note) : undefined;
    if (this.accept(feed, carried ?? null, Number(note.offset)) && carried) this.metrics.broadcastsCarried.inc();
  }

  /**
   * Handles a deletion (a `realtime:broadcast` notification with `deleted`): subscribers that received
   * the message are told; one not yet delivered here never will be, even by a read that began before
   * the deletion.
   */
  deleted(note: BroadcastNote): void {
    const feed = this.feeds.get(note.channel_id);
    if (!feed) return;
    const offset = Number(note.offset);
    if (offset > feed.lastOffset) {
      feed.deleted.add(offset);
      feed.pending.delete(offset);
      return;
    }
    for (const subscriber of feed.subscribers) {
      try {
        subscriber.deleteBroadcast?.({ id: note.id, offset });
      } catch (error) {
        this.logger.error({ code: LogCode.broadcastSubscriberFailed, err: error }, 'telling a subscriber of a deleted broadcast failed');
      }
    }
  }

  /** After the listener reconnected: notifications may have been lost, so every channel is read from its last offset. */
  catchUp(): void {
    for (const feed of this.feeds.values()) {
      feed.readLog = true;
      void this.drain(feed);
    }
  }

  /** Takes news of a message (its row, or only its offset); false when it is old news: delivered, or its row already here. */
  private accept(feed: ChannelFeed | undefined, message: StoredMessage | null, offset = message?.offset ?? 0): boolean {
    if (!feed || offset <= feed.lastOffset || feed.pending.get(offset)) return false;
    feed.pending.set(offset, message);
    void this.drain(feed);
    return true;
  }

  private async drain(feed: ChannelFeed): Promise<void> {
    if (feed.draining) {
      feed.drainAgain = true;
      return;
    }
    feed.draining = true;
    try {
      do {
        feed.drainAgain = false;
        await this.drainOnce(feed);
      } while (feed.drainAgain);
    } catch (error) {
      this.logger.error({ code: LogCode.broadcastDeliveryRetry, err: error, channelId: feed.channelId }, 'broadcast delivery failed; retrying');
      feed.readLog = true;
      setTimeout(() => void this.drain(feed), RETRY_MS).unref();
    } finally {
      feed.draining = false;
    }
  }

  private async drainOnce(feed: ChannelFeed): Promise<void> {
    for (;;) {
      const next = feed.lastOffset + 1;
      const message = feed.pending.get(next);
      if (message) {
        this.deliver(feed, message);
        continue;
      }
      if (!feed.readLog && feed.pending.size === 0) return;
      feed.readLog = false;
      const notifiedBefore = [...feed.pending.keys()];
      this.metrics.broadcastLogReads.inc();
      const page = await this.log.readPage(feed.channelId, { afterOffset: feed.lastOffset, limit: FETCH_LIMIT, maxBytes: FETCH_BYTES });
      const rows = page.messages;
      if (rows.length === 0) {
        // Offsets notified before the read that it did not find are no longer stored (deleted by
        // retention). Those notified while it ran stay: their rows may have committed after its snapshot.
        for (const offset of notifiedBefore) feed.pending.delete(offset);
        return;
      }
      for (const row of rows) feed.pending.set(row.offset, row);
      // Offsets below the first stored one were deleted: skip them.
      if (rows[0] && rows[0].offset > next) {
        feed.lastOffset = rows[0].offset - 1;
        for (const offset of feed.deleted) if (offset <= feed.lastOffset) feed.deleted.delete(offset);
      }
      if (page.full) feed.readLog = true;
    }
  }

  private deliver(feed: ChannelFeed, message: StoredMessage): void {
    feed.pending.delete(message.offset);
    feed.lastOffset = message.offset;
    const excluded = feed.withheldFrom.get(message.id);
    feed.withheldFrom.delete(message.id);
    if (feed.deleted.delete(message.offset)) return;
    let delivered = 0;
    const frames = new SharedFrames();
    for (const subscriber of feed.subscribers) {
      if (subscriber === excluded) {
        subscriber.passBroadcast?.(message);
        continue;
      }
      try {
        subscriber.deliverBroadcast(message, frames);
        delivered += 1;
      } catch (error) {
        this.logger.error({ code: LogCode.broadcastSubscriberFailed, err: error }, 'delivering a broadcast to a subscriber failed');
      }
    }
    if (delivered > 0) this.metrics.messagesOut.inc({ kind: 'broadcast' }, delivered);
    this.metrics.deliveryLatency.observe(Math.max(0, Date.now() - message.sentAt.getTime()) / 1000);
  }
}
