// Keeps each channel's presence (who is present) for this process and sends presence_state and presence_diff.
//
// The tables are the source of truth: realtime.presence_sessions holds each WebSocket track (its
// presence key and metadata), realtime.presence each user's stored presence (also written by the
// CLI and SQL). Triggers notify `realtime:presence` with the ids of what changed, never the data;
// per channel with subscribers here, the feed reads those presences again, one read at a time, and
// turns what changed into one diff. After the listener reconnects it reloads and diffs, so nothing is missed.
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { presenceBytes, sessionPresenceId, userPresenceId, visiblePresences, type Pool, type PresenceIds, type VisiblePresence } from '@nself/db';
import type { Logger } from '../logger.js';
import { LogCode } from '../log-codes.js';

/** One presence entry as clients see it: the tracked payload plus a unique `phx_ref`. */
export type PresenceMeta = Record<string, unknown> & { phx_ref: string; phx_ref_prev?: string };
/** `{ key: { metas: [...] } }`, the shape of presence_state and of each side of a diff. */
export type PresenceMap = Record<string, { metas: PresenceMeta[] }>;

/** A joined channel with presence enabled, as the feed sees it. */
export interface PresenceSubscriber {
  sendPresenceState(state: PresenceMap): void;
  sendPresenceDiff(diff: { joins: PresenceMap; leaves: PresenceMap }): void;
}

/** What the NOTIFY on `realtime:presence` says: a session (`connection_id`) or a stored presence (`user_id`) changed. */
export interface PresenceNotification {
  readonly channel_id: string | null;
  readonly connection_id?: string;
  readonly user_id?: string | null;
}

interface Entry {
  readonly key: string;
  readonly data: Record<string, unknown>;
  readonly meta: PresenceMeta;
  /** Bytes of the meta's JSON, as every joiner receives it. */
  readonly bytes: number;
}

interface ChannelPresence {
  readonly channelId: string;
  /** Presences by id; undefined until the first load. */
  entries: Map<string, Entry> | undefined;
  /** Sum of the entries' `bytes`: the size of the channel's presence_state. */
  bytes: number;
  readonly subscribers: Set<PresenceSubscriber>;
  /** Subscribers waiting for the first load to get their presence_state. */
  readonly waiting: Set<PresenceSubscriber>;
  /** Sessions and users to read again. */
  readonly changedConnections: Set<string>;
  readonly changedUsers: Set<string>;
  /** Read the whole channel again (first load, after a reconnect). */
  reloadAll: boolean;
  reading: boolean;
}

/** The presence of every channel that has presence subscribers in this process. */
export class PresenceFeed {
  private readonly channels = new Map<string, ChannelPresence>();
  /**
   * Tracks this process admitted and has not seen applied yet, by channel: bytes by session presence id.
   * They count toward the channel's size, so tracks arriving together cannot all fit under the cap at once.
   */
  private readonly claims = new Map<string, Map<string, number>>();
  /** The last admission of a track waiting or running, by channel. */
  private readonly admissions = new Map<string, Promise<void>>();

  constructor(
    private readonly pool: Pool,
    private readonly logger: Logger,
  ) {}

  /** Adds a subscriber and sends it the channel's presence_state (after the reply to its join). */
  subscribe(channelId: string, subscriber: PresenceSubscriber): void {
    let channel = this.channels.get(channelId);
    if (!channel) {
      channel = {
        channelId,
        entries: undefined,
        bytes: 0,
        subscribers: new Set(),
        waiting: new Set(),
        changedConnections: new Set(),
        changedUsers: new Set(),
        reloadAll: true,
        reading: false,
      };
      this.channels.set(channelId, channel);
      void this.read(channel);
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
    if (channel.subscribers.size === 0) {
      this.channels.delete(channelId);
      this.claims.delete(channelId);
    }
  }

  /**
   * Runs `write`, the store of a track of `bytes` by `connectionId`, when the channel's presence stays
   * within `maxStateBytes` with it (replacing the connection's own presence); returns false, without
   * writing, when it would not (a failed write rejects). The size is this process's state of the
   * channel when it has one loaded, otherwise the database's sum of the channel's presence (one
   * aggregate). Tracks of one channel are admitted one at a time, and an admitted track counts until
   * the feed applies it, so tracks arriving together cannot all fit under the cap at once.
   */
  admitTrack(channelId: string, connectionId: string, bytes: number, maxStateBytes: number, write: () => Promise<void>): Promise<boolean> {
    const previous = this.admissions.get(channelId) ?? Promise.resolve();
    const admitted = previous.then(() => this.admitNow(channelId, sessionPresenceId(connectionId), bytes, maxStateBytes, write));
    const settled = admitted.then(
      () => undefined,
      () => undefined,
    );
    this.admissions.set(channelId, settled);
    void settled.then(() => {
      if (this.admissions.get(channelId) === settled) this.admissions.delete(channelId);
    });
    return admitted;
  }

  private async admitNow(channelId: string, id: string, bytes: number, maxStateBytes: number, write: () => Promise<void>): Promise<boolean> {
    const stored = this.channels.get(channelId)?.entries ? 0 : await presenceBytes(this.pool, channelId, id);
    const channel = this.channels.get(channelId);
    const loaded = channel?.entries;
    let total = channel && loaded ? channel.bytes - (loaded.get(id)?.bytes ?? 0) : stored;
    const claims = this.claims.get(channelId) ?? new Map<string, number>();
    for (const [claimant, claimed] of claims) {
      if (claimant !== id) total += claimed - (loaded?.get(claimant)?.bytes ?? 0);
    }
    if (total + bytes > maxStateBytes) return false;
    claims.set(id, bytes);
    this.claims.set(channelId, claims);
    let written = false;
    try {
      await write();
      written = true;
    } finally {
      // A failed write holds nothing; without loaded state the database's sum counts the track from now on.
      if (!written || !this.channels.get(channelId)?.entries) this.dropClaim(channelId, id);
    }
    return true;
  }

  private dropClaim(channelId: string, id: string): void {
    const claims = this.claims.get(channelId);
    if (!claims?.delete(id)) return;
    if (claims.size === 0) this.claims.delete(channelId);
  }

  /** Handles a `realtime:presence` notification: what it names is read again. */
  notify(note: PresenceNotification): void {
    if (!note.channel_id) return;
    const channel = this.channels.get(note.channel_id);
    if (!channel) return;
    if (typeof note.connection_id === 'string') channel.changedConnections.add(note.connection_id);
    if (typeof note.user_id === 'string') channel.changedUsers.add(note.user_id);
    void this.read(channel);
  }

  /** After the listener reconnected: reload every channel and send what changed. */
  resync(): void {
    for (const channel of this.channels.values()) {
      channel.reloadAll = true;
      void this.read(channel);
    }
  }

  /** Reads what is pending for a channel, one read at a time, until nothing is; a failed read is retried. */
  private async read(channel: ChannelPresence): Promise<void> {
    if (channel.reading) return;
    channel.reading = true;
    try {
      while (this.channels.get(channel.channelId) === channel && (channel.reloadAll || channel.changedConnections.size + channel.changedUsers.size > 0)) {
        const only: PresenceIds | undefined = channel.reloadAll ? undefined : { connectionIds: [...channel.changedConnections], userIds: [...channel.changedUsers] };
        channel.reloadAll = false;
        channel.changedConnections.clear();
        channel.changedUsers.clear();
        let found: VisiblePresence[];
        try {
          found = await visiblePresences(this.pool, channel.channelId, only);
        } catch (error) {
          this.logger.error({ code: LogCode.presenceReadFailed, err: error, channelId: channel.channelId }, 'could not read presence; retrying');
          if (only) {
            for (const id of only.connectionIds) channel.changedConnections.add(id);
            for (const id of only.userIds) channel.changedUsers.add(id);
          } else {
            channel.reloadAll = true;
          }
          setTimeout(() => {
            if (this.channels.get(channel.channelId) === channel) void this.read(channel);
          }, 500).unref();
          return;
        }
        if (this.channels.get(channel.channelId) !== channel) return;
        this.apply(channel, found, only);
      }
    } finally {
      channel.reading = false;
    }
  }

  /** Applies a read: on the first load sends presence_state to the waiting, afterwards one diff of what changed. */
  private apply(channel: ChannelPresence, found: readonly VisiblePresence[], only: PresenceIds | undefined): void {
    if (!channel.entries) {
      channel.entries = new Map(found.map((presence) => [presence.id, entryOf(presence)]));
      channel.bytes = 0;
      for (const [id, entry] of channel.entries) {
        channel.bytes += entry.bytes;
        this.dropClaim(channel.channelId, id);
      }
      for (const subscriber of channel.waiting) subscriber.sendPresenceState(stateOf(channel.entries));
      channel.waiting.clear();
      return;
    }
    const entries = channel.entries;
    const read = only ? [...only.connectionIds.map(sessionPresenceId), ...only.userIds.map(userPresenceId)] : [...entries.keys()];
    const current = new Map(found.map((presence) => [presence.id, presence]));
    const joins = emptyMap();
    const leaves = emptyMap();
    for (const id of new Set([...read, ...current.keys()])) {
      this.dropClaim(channel.channelId, id);
      const previous = entries.get(id);
      const now = current.get(id);
      if (previous && now && previous.key === now.key && isDeepStrictEqual(previous.data, now.data)) continue;
      if (previous) {
        addMeta(leaves, previous.key, previous.meta);
        entries.delete(id);
        channel.bytes -= previous.bytes;
      }
      if (now) {
        const entry = entryOf(now, previous?.meta.phx_ref);
        entries.set(id, entry);
        channel.bytes += entry.bytes;
        addMeta(joins, entry.key, entry.meta);
      }
    }
    if (Object.keys(joins).length === 0 && Object.keys(leaves).length === 0) return;
    for (const subscriber of channel.subscribers) {
      if (channel.waiting.has(subscriber)) continue;
      subscriber.sendPresenceDiff({ joins, leaves });
    }
  }
}

function entryOf(presence: VisiblePresence, previousRef?: string): Entry {
  const meta: PresenceMeta = { ...presence.data, phx_ref: randomBytes(9).toString('base64url') };
  if (previousRef) meta.phx_ref_prev = previousRef;
  return { key: presence.key, data: presence.data, meta, bytes: Buffer.byteLength(JSON.stringify(meta)) };
}

/** A map without a prototype, so that any key a client chooses (`__proto__` too) is an ordinary key. */
function emptyMap(): PresenceMap {
  return Object.create(null) as PresenceMap;
}

function addMeta(map: PresenceMap, key: string, meta: PresenceMeta): void {
  (map[key] ??= { metas: [] }).metas.push(meta);
}

function stateOf(entries: Map<string, Entry>): PresenceMap {
  const state = emptyMap();
  for (const entry of entries.values()) addMeta(state, entry.key, entry.meta);
  return state;
}
