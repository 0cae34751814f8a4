// Delivers each channel's stored broadcasts to this process's subscribers, once each and in offset order.
//
// Every broadcast is stored by realtime.append_message, which gives it the channel's next offset and
// sends a NOTIFY. This process learns of a message either from that NOTIFY (any source, any process)
// or, for its own clients' sends, right after the INSERT returns. Per channel it keeps the last offset
// it delivered; a message is delivered only when it is the next offset, gaps are read back from
// realtime.messages (offsets commit in order, so a notified offset N means all below N are readable),
// and after the listener reconnects every channel is read from its last offset.
import type { Message as StoredMessage, Pool } from '@nself/db';
import { appendMessage, replayMessages } from '@nself/db';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** A joined channel of one socket, as the feed sees it. */
export interface BroadcastSubscriber {
  /** Unique per socket and join, so a sender's own message can be held back from it. */
  readonly key: string;
  deliverBroadcast(message: StoredMessage): void;
}

/** What the NOTIFY on `realtime:broadcast` says. */
export interface BroadcastNotification {
  readonly id: string;
  readonly channel_id: string;
  readonly offset: number;
  readonly event: string;
  readonly sender: string | null;
  readonly sent_at: string;
  readonly payload?: unknown;
}

interface Pending {
  /** The full row, or undefined when only the notification (without its payload) is known. */
  message?: StoredMessage;
  /** Sent by a client of this process and returned by its INSERT (so its sender is known). */
  local: boolean;
  sender: string | null;
}

interface ChannelFeed {
  readonly channelId: string;
  /** Offset of the newest message delivered here. */
  lastOffset: number;
  readonly subscribers: Set<BroadcastSubscriber>;
  readonly pending: Map<number, Pending>;
  /** Senders (user ids, '' for anonymous) of this process's appends still in flight. */
  readonly inflight: Map<string, number>;
  /** Message id → subscriber key that must not receive it (`self: false`). */
  readonly holdBack: Map<string, string>;
  catchUp: boolean;
  draining: boolean;
  again: boolean;
}

const FETCH_LIMIT = 1000;

/** The per-channel ordered fan-out of stored broadcasts for one server process. */
export class BroadcastFeed {
  private readonly feeds = new Map<string, ChannelFeed>();

  constructor(private readonly pool: Pool, private readonly logger: Logger, private readonly metrics: Metrics) {}

  /**
   * Adds a subscriber. `knownOffset` is the channel's last offset as read during the join, before
   * its reply: a channel new to this process starts there, so nothing committed after the reply is
   * missed; on a channel already followed, the subscriber receives what this process has not yet delivered.
   */
  subscribe(channelId: string, subscriber: BroadcastSubscriber, knownOffset: number): void {
    const existing = this.feeds.get(channelId);
    if (existing) {
      existing.subscribers.add(subscriber);
      return;
    }
    this.feeds.set(channelId, {
      channelId, lastOffset: knownOffset, subscribers: new Set([subscriber]), pending: new Map(), inflight: new Map(),
      holdBack: new Map(), catchUp: false, draining: false, again: false,
    });
  }

  /** Removes a subscriber; the channel's state is dropped with its last subscriber. */
  unsubscribe(channelId: string, subscriber: BroadcastSubscriber): void {
    const feed = this.feeds.get(channelId);
    if (!feed) return;
    feed.subscribers.delete(subscriber);
    if (feed.subscribers.size === 0 && feed.inflight.size === 0) this.feeds.delete(channelId);
  }

  /**
   * Stores a message sent by a subscriber of this process and delivers it; `exclude` (the sender,
   * unless it asked for `self`) does not receive it. Resolves once the message is stored.
   */
  async send(input: { channelId: string; event: string; payload: unknown; binary: Buffer | null; sender: string | null; exclude?: BroadcastSubscriber }): Promise<StoredMessage> {
    const feed = this.feeds.get(input.channelId);
    const senderKey = input.sender ?? '';
    if (feed) feed.inflight.set(senderKey, (feed.inflight.get(senderKey) ?? 0) + 1);
    try {
      const message = await appendMessage(this.pool, {
        channelId: input.channelId, event: input.event, payload: input.binary ? null : input.payload,
        payloadBinary: input.binary, sender: input.sender,
      });
      if (feed) {
        if (input.exclude) feed.holdBack.set(message.id, input.exclude.key);
        feed.pending.set(message.offset, { message, local: true, sender: message.sender });
      }
      return message;
    } finally {
      if (feed) {
        const left = (feed.inflight.get(senderKey) ?? 1) - 1;
        if (left > 0) feed.inflight.set(senderKey, left);
        else feed.inflight.delete(senderKey);
        if (feed.subscribers.size === 0 && feed.inflight.size === 0 && this.feeds.get(feed.channelId) === feed) this.feeds.delete(feed.channelId);
        else void this.drain(feed);
      }
    }
  }

  /** Handles a `realtime:broadcast` notification. */
  notify(note: BroadcastNotification): void {
    const feed = this.feeds.get(note.channel_id);
    if (!feed) return;
    const offset = Number(note.offset);
    if (feed.pending.has(offset) || offset <= feed.lastOffset) return;
    const message: StoredMessage | undefined = 'payload' in note
      ? { id: note.id, channelId: note.channel_id, offset, event: note.event, payload: note.payload, payloadBinary: null, sender: note.sender, sentAt: new Date(note.sent_at) }
      : undefined;
    feed.pending.set(offset, { message, local: false, sender: note.sender });
    void this.drain(feed);
  }

  /** After the listener reconnected: notifications may have been lost, so every channel is read from its last offset. */
  catchUp(): void {
    for (const feed of this.feeds.values()) {
      feed.catchUp = true;
      void this.drain(feed);
    }
  }

  private async drain(feed: ChannelFeed): Promise<void> {
    if (feed.draining) {
      feed.again = true;
      return;
    }
    feed.draining = true;
    try {
      do {
        feed.again = false;
        await this.drainOnce(feed);
      } while (feed.again);
    } catch (error) {
      this.logger.error({ err: error, channelId: feed.channelId }, 'broadcast delivery failed; retrying');
      feed.catchUp = true;
      setTimeout(() => void this.drain(feed), 500).unref();
    } finally {
      feed.draining = false;
    }
  }

  private async drainOnce(feed: ChannelFeed): Promise<void> {
    for (;;) {
      const next = feed.lastOffset + 1;
      const entry = feed.pending.get(next);
      if (entry?.message && (entry.local || !feed.inflight.has(entry.sender ?? ''))) {
        this.deliver(feed, entry.message);
        continue;
      }
      const behind = feed.catchUp || [...feed.pending.keys()].some((offset) => offset >= next);
      if (!behind || feed.inflight.size > 0 && !feed.catchUp) return;
      feed.catchUp = false;
      const rows = await replayMessages(this.pool, feed.channelId, { afterOffset: feed.lastOffset, limit: FETCH_LIMIT });
      if (rows.length === 0) {
        // Notified offsets that are no longer stored (deleted by retention): nothing to deliver.
        for (const offset of feed.pending.keys()) if (!feed.pending.get(offset)?.local) feed.pending.delete(offset);
        return;
      }
      for (const row of rows) {
        const known = feed.pending.get(row.offset);
        if (!known?.local) feed.pending.set(row.offset, { message: row, local: false, sender: row.sender });
      }
      // Offsets below the first stored one were deleted: skip them.
      if (rows[0] && rows[0].offset > next) feed.lastOffset = rows[0].offset - 1;
      if (rows.length === FETCH_LIMIT) feed.catchUp = true;
      for (const row of rows) {
        const entry = feed.pending.get(row.offset);
        if (!entry?.message || row.offset !== feed.lastOffset + 1) break;
        if (!entry.local && feed.inflight.has(entry.sender ?? '')) break;
        this.deliver(feed, entry.message);
      }
    }
  }

  private deliver(feed: ChannelFeed, message: StoredMessage): void {
    feed.pending.delete(message.offset);
    feed.lastOffset = message.offset;
    const excluded = feed.holdBack.get(message.id);
    feed.holdBack.delete(message.id);
    for (const subscriber of feed.subscribers) {
      if (subscriber.key === excluded) continue;
      try {
        subscriber.deliverBroadcast(message);
      } catch (error) {
        this.logger.error({ err: error }, 'delivering a broadcast to a subscriber failed');
      }
    }
    this.metrics.deliveryLatency.observe(Math.max(0, Date.now() - message.sentAt.getTime()) / 1000);
  }
}
