// Keeps each channel's presence (who is online) for this process and sends presence_state and presence_diff.
//
// realtime.presence is the source of truth: a trigger notifies `realtime:presence` on every change,
// from a WebSocket track in any process, the CLI or SQL. Per channel with subscribers here, the feed
// holds the present users (loaded from the table, then kept current by notifications) and turns
// each change into a diff. After the listener reconnects it reloads and diffs, so nothing is missed.
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Pool } from '@nself/db';
import type { Logger } from './logger.js';
import { presentUsers, type StoredPresence } from './presence-store.js';

/** One presence entry as clients see it: the tracked payload plus a unique `phx_ref`. */
export type PresenceMeta = Record<string, unknown> & { phx_ref: string; phx_ref_prev?: string };
/** `{ key: { metas: [...] } }`, the shape of presence_state and of each side of a diff. */
export type PresenceMap = Record<string, { metas: PresenceMeta[] }>;

/** A joined channel with presence enabled, as the feed sees it. */
export interface PresenceSubscriber {
  sendPresenceState(state: PresenceMap): void;
  sendPresenceDiff(diff: { joins: PresenceMap; leaves: PresenceMap }): void;
}

/** What the NOTIFY on `realtime:presence` says. */
export interface PresenceNotification {
  readonly operation: string;
  readonly user_id: string;
  readonly channel_id: string | null;
  readonly status: string;
  readonly metadata: Record<string, unknown>;
}

interface Entry {
  readonly data: Record<string, unknown>;
  readonly meta: PresenceMeta;
}

interface ChannelPresence {
  readonly channelId: string;
  entries: Map<string, Entry> | undefined;
  readonly subscribers: Set<PresenceSubscriber>;
  /** Notifications that arrived while the state was loading. */
  readonly buffered: PresenceNotification[];
  /** Subscribers waiting for the first load to get their presence_state. */
  readonly waiting: Set<PresenceSubscriber>;
}

/** The presence of every channel that has presence subscribers in this process. */
export class PresenceFeed {
  private readonly channels = new Map<string, ChannelPresence>();

  constructor(private readonly pool: Pool, private readonly logger: Logger) {}

  /** Adds a subscriber and sends it the channel's presence_state (after the reply to its join). */
  subscribe(channelId: string, subscriber: PresenceSubscriber): void {
    let channel = this.channels.get(channelId);
    if (!channel) {
      channel = { channelId, entries: undefined, subscribers: new Set(), buffered: [], waiting: new Set() };
      this.channels.set(channelId, channel);
      void this.load(channel);
    }
    channel.subscribers.add(subscriber);
    if (channel.entries) subscriber.sendPresenceState(stateOf(channel.entries));
    else channel.waiting.add(subscriber);
  }

  /** Removes a subscriber; a channel without subscribers is forgotten. */
  unsubscribe(channelId: string, subscriber: PresenceSubscriber): void {
    const channel = this.channels.get(channelId);
    if (!channel) return;
    channel.subscribers.delete(subscriber);
    channel.waiting.delete(subscriber);
    if (channel.subscribers.size === 0) this.channels.delete(channelId);
  }

  /** Handles a `realtime:presence` notification. */
  notify(note: PresenceNotification): void {
    if (!note.channel_id) return;
    const channel = this.channels.get(note.channel_id);
    if (!channel) return;
    if (!channel.entries) {
      channel.buffered.push(note);
      return;
    }
    const present = note.operation !== 'DELETE' && note.status !== 'offline';
    this.apply(channel, note.user_id, present ? dataOf({ userId: note.user_id, status: note.status, metadata: note.metadata }) : undefined);
  }

  /** After the listener reconnected: reload every channel and send what changed. */
  resync(): void {
    for (const channel of this.channels.values()) if (channel.entries) void this.load(channel);
  }

  private async load(channel: ChannelPresence): Promise<void> {
    let users: StoredPresence[];
    try {
      users = await presentUsers(this.pool, channel.channelId);
    } catch (error) {
      this.logger.error({ err: error, channelId: channel.channelId }, 'could not load presence; retrying');
      setTimeout(() => { if (this.channels.get(channel.channelId) === channel) void this.load(channel); }, 500).unref();
      return;
    }
    if (this.channels.get(channel.channelId) !== channel) return;
    if (!channel.entries) {
      channel.entries = new Map(users.map((user) => [user.userId, entryOf(dataOf(user))]));
      for (const subscriber of channel.waiting) subscriber.sendPresenceState(stateOf(channel.entries));
      channel.waiting.clear();
    } else {
      const loaded = new Map(users.map((user) => [user.userId, dataOf(user)]));
      for (const key of [...channel.entries.keys()]) if (!loaded.has(key)) this.apply(channel, key, undefined);
      for (const [key, data] of loaded) this.apply(channel, key, data);
    }
    for (const note of channel.buffered.splice(0)) this.notify(note);
  }

  /** Sets one key's presence (undefined = gone) and sends the diff, if anything changed. */
  private apply(channel: ChannelPresence, key: string, data: Record<string, unknown> | undefined): void {
    const entries = channel.entries;
    if (!entries) return;
    const previous = entries.get(key);
    if (data === undefined && previous === undefined) return;
    if (data !== undefined && previous !== undefined && isDeepStrictEqual(previous.data, data)) return;
    const joins: PresenceMap = {};
    const leaves: PresenceMap = {};
    if (previous) {
      leaves[key] = { metas: [previous.meta] };
      entries.delete(key);
    }
    if (data !== undefined) {
      const entry = entryOf(data, previous?.meta.phx_ref);
      entries.set(key, entry);
      joins[key] = { metas: [entry.meta] };
    }
    for (const subscriber of channel.subscribers) {
      if (channel.waiting.has(subscriber)) continue;
      subscriber.sendPresenceDiff({ joins, leaves });
    }
  }
}

/** What clients see of a stored presence: its metadata (the tracked payload) with its status. */
function dataOf(user: StoredPresence): Record<string, unknown> {
  return { status: user.status, ...user.metadata };
}

function entryOf(data: Record<string, unknown>, previousRef?: string): Entry {
  const meta: PresenceMeta = { ...data, phx_ref: randomBytes(9).toString('base64url') };
  if (previousRef) meta.phx_ref_prev = previousRef;
  return { data, meta };
}

function stateOf(entries: Map<string, Entry>): PresenceMap {
  const state: PresenceMap = {};
  for (const [key, entry] of entries) state[key] = { metas: [entry.meta] };
  return state;
}
