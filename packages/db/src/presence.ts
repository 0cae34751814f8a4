// Presence: who is online, away or offline, per channel or globally (channel null).
import type { Queryable } from './queryable.js';
import { checkChoice, checkJsonObject, checkUserId } from './validation.js';

/** Presence statuses of the seed: actively present, idle, disconnected. */
export const PRESENCE_STATUSES = ['online', 'away', 'offline'] as const;
export type PresenceStatus = (typeof PRESENCE_STATUSES)[number];

/** One user's presence in one channel, or globally when `channelId` is null. */
export interface Presence {
  readonly userId: string;
  readonly channelId: string | null;
  /** The channel's slug, null for global presence. */
  readonly channel: string | null;
  readonly status: PresenceStatus;
  readonly metadata: Record<string, unknown>;
  readonly lastSeenAt: Date;
  /** Whole seconds since `lastSeenAt`, by the database clock. */
  readonly secondsAgo: number;
}

/** Counts of users by their best status (online over away over offline) and of channels with presence. */
export interface PresenceStats {
  readonly online: number;
  readonly away: number;
  readonly offline: number;
  readonly totalUsers: number;
  readonly totalChannels: number;
}

interface PresenceRow {
  user_id: string;
  channel_id: string | null;
  channel: string | null;
  status: PresenceStatus;
  metadata: Record<string, unknown>;
  last_seen_at: Date;
  seconds_ago: number;
}

const SELECT = `SELECT p.user_id, p.channel_id, c.slug AS channel, p.status, p.metadata, p.last_seen_at,
       floor(extract(epoch FROM now() - p.last_seen_at))::int AS seconds_ago
  FROM realtime.presence p LEFT JOIN realtime.channels c ON c.id = p.channel_id`;

export interface TrackedPresence {
  readonly userId: string;
  /** The channel, or null for the user's global presence (one row per user). */
  readonly channelId: string | null;
  readonly status?: string;
  /** Replaces the stored metadata when given; kept as it was when omitted. */
  readonly metadata?: unknown;
}

/** Records a user's status (default online) in a channel or globally, refreshing last_seen_at. */
export async function trackPresence(db: Queryable, presence: TrackedPresence): Promise<Presence> {
  const userId = checkUserId(presence.userId);
  const status = checkChoice(presence.status ?? 'online', PRESENCE_STATUSES, 'status');
  const metadata = presence.metadata === undefined ? null : JSON.stringify(checkJsonObject(presence.metadata, 'presence metadata'));
  const { rows } = await db.query<PresenceRow>(
    `WITH tracked AS (
       INSERT INTO realtime.presence AS p (user_id, channel_id, status, metadata, last_seen_at)
       VALUES ($1, $2, $3, coalesce($4::jsonb, '{}'::jsonb), now())
       ON CONFLICT ON CONSTRAINT presence_user_channel_key DO UPDATE
         SET status = EXCLUDED.status, metadata = coalesce($4::jsonb, p.metadata), last_seen_at = now()
       RETURNING p.*
     )
     SELECT p.user_id, p.channel_id, c.slug AS channel, p.status, p.metadata, p.last_seen_at, 0 AS seconds_ago
       FROM tracked p LEFT JOIN realtime.channels c ON c.id = p.channel_id`,
    [userId, presence.channelId, status, metadata],
  );
  return toPresence(rows[0] as PresenceRow);
}

/**
 * Sets a user offline in one channel, or everywhere (every channel and globally) when `channelId`
 * is omitted. Returns how many presence rows it matched; 0 when the user had none there.
 */
export async function setOffline(db: Queryable, userId: string, channelId?: string | null): Promise<number> {
  const result = await db.query(
    `UPDATE realtime.presence SET status = 'offline', last_seen_at = now()
      WHERE user_id = $1 AND ($2::uuid IS NULL OR channel_id = $2)`,
    [userId, channelId ?? null],
  );
  return result.rowCount ?? 0;
}

/** A user's presence in one channel, or everywhere (global row first) when `channelId` is omitted. */
export async function getPresence(db: Queryable, userId: string, channelId?: string | null): Promise<Presence[]> {
  const { rows } = await db.query<PresenceRow>(
    `${SELECT} WHERE p.user_id = $1 AND ($2::uuid IS NULL OR p.channel_id = $2)
      ORDER BY p.channel_id IS NOT NULL, c.slug`,
    [userId, channelId ?? null],
  );
  return rows.map(toPresence);
}

/** Users present (online or away) in a channel, or anywhere when `channelId` is omitted; most recently seen first. */
export async function listPresent(db: Queryable, channelId?: string | null): Promise<Presence[]> {
  const { rows } = await db.query<PresenceRow>(
    `${SELECT} WHERE p.status <> 'offline' AND ($1::uuid IS NULL OR p.channel_id = $1)
      ORDER BY p.last_seen_at DESC, p.user_id, c.slug`,
    [channelId ?? null],
  );
  return rows.map(toPresence);
}

/** How many distinct users are present (online or away) in a channel, or anywhere. */
export async function countPresent(db: Queryable, channelId?: string | null): Promise<number> {
  const { rows } = await db.query<{ count: number }>(
    `SELECT count(DISTINCT user_id)::int AS count FROM realtime.presence
      WHERE status <> 'offline' AND ($1::uuid IS NULL OR channel_id = $1)`,
    [channelId ?? null],
  );
  return rows[0]?.count ?? 0;
}

/** Users by their best status, and the number of channels with any presence row. */
export async function presenceStats(db: Queryable): Promise<PresenceStats> {
  const { rows } = await db.query<{ online: number; away: number; offline: number; total_users: number; total_channels: number }>(
    `WITH users AS (
       SELECT user_id, min(CASE status WHEN 'online' THEN 0 WHEN 'away' THEN 1 ELSE 2 END) AS best
         FROM realtime.presence GROUP BY user_id
     )
     SELECT count(*) FILTER (WHERE best = 0)::int AS online,
            count(*) FILTER (WHERE best = 1)::int AS away,
            count(*) FILTER (WHERE best = 2)::int AS offline,
            count(*)::int AS total_users,
            (SELECT count(DISTINCT channel_id) FROM realtime.presence)::int AS total_channels
       FROM users`,
  );
  const row = rows[0];
  return {
    online: row?.online ?? 0,
    away: row?.away ?? 0,
    offline: row?.offline ?? 0,
    totalUsers: row?.total_users ?? 0,
    totalChannels: row?.total_channels ?? 0,
  };
}

/** Sets offline every presence unseen for `timeoutSeconds` (through `realtime.cleanup_stale_presence`). */
export async function cleanupStalePresence(db: Queryable, timeoutSeconds: number): Promise<number> {
  const { rows } = await db.query<{ changed: number }>('SELECT realtime.cleanup_stale_presence($1) AS changed', [timeoutSeconds]);
  return rows[0]?.changed ?? 0;
}

function toPresence(row: PresenceRow): Presence {
  return {
    userId: row.user_id,
    channelId: row.channel_id,
    channel: row.channel,
    status: row.status,
    metadata: row.metadata,
    lastSeenAt: row.last_seen_at,
    secondsAgo: Math.max(0, row.seconds_ago),
  };
}
