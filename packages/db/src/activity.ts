// Recent activity for the inspector: channels with their members, who is online and messages per second; tables with changes per second.
import type { ChannelType } from './channels.js';
import type { Queryable } from './queryable.js';

/** A channel as the inspector lists it. */
export interface ChannelActivity {
  readonly slug: string;
  readonly type: ChannelType;
  readonly members: number;
  /** Users present (online or away). */
  readonly online: number;
  /** Offset of the newest message: every message ever sent to it. */
  readonly lastOffset: number;
  /** Messages sent in the window, per second. */
  readonly messagesPerSecond: number;
  readonly lastSentAt: Date | null;
}

/** Changes captured from one table. */
export interface TableActivity {
  readonly schema: string;
  readonly table: string;
  /** Changes positioned in the window, per second. */
  readonly changesPerSecond: number;
}

/** The most channels listed: the busiest first, then the newest. */
export const MAX_LISTED_CHANNELS = 200;

/** Channels with their figures over the last `windowSeconds`, busiest first, then newest; at most MAX_LISTED_CHANNELS. */
export async function channelActivity(db: Queryable, windowSeconds: number): Promise<ChannelActivity[]> {
  const { rows } = await db.query<{
    slug: string;
    type: ChannelType;
    members: number;
    online: number;
    last_offset: string;
    recent: number;
    last_sent_at: Date | null;
  }>(
    `SELECT c.slug, c.type, c.last_offset,
            (SELECT count(*) FROM realtime.channel_members m WHERE m.channel_id = c.id)::int AS members,
            (SELECT count(*) FROM realtime.presence p WHERE p.channel_id = c.id AND p.status <> 'offline')::int AS online,
            coalesce(recent.messages, 0)::int AS recent, recent.last_sent_at
       FROM realtime.channels c
       LEFT JOIN (SELECT channel_id, count(*) AS messages, max(sent_at) AS last_sent_at
                    FROM realtime.messages WHERE sent_at >= now() - make_interval(secs => $1)
                   GROUP BY channel_id) recent ON recent.channel_id = c.id
      ORDER BY recent DESC, c.created_at DESC, c.slug
      LIMIT $2`,
    [windowSeconds, MAX_LISTED_CHANNELS],
  );
  return rows.map((row) => ({
    slug: row.slug,
    type: row.type,
    members: row.members,
    online: row.online,
    lastOffset: Number(row.last_offset),
    messagesPerSecond: row.recent / windowSeconds,
    lastSentAt: row.last_sent_at,
  }));
}

/** Tables whose changes were positioned in the last `windowSeconds`, with their rate. */
export async function tableActivity(db: Queryable, windowSeconds: number): Promise<TableActivity[]> {
  const { rows } = await db.query<{ schema_name: string; table_name: string; recent: number }>(
    `SELECT schema_name, table_name, count(*)::int AS recent
       FROM realtime.changes
      WHERE position IS NOT NULL AND changed_at >= now() - make_interval(secs => $1)
      GROUP BY schema_name, table_name`,
    [windowSeconds],
  );
  return rows.map((row) => ({ schema: row.schema_name, table: row.table_name, changesPerSecond: row.recent / windowSeconds }));
}

/** Captured changes not yet given a position (waiting for their transaction's commit or a sequencing round). */
export async function pendingChanges(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ pending: number }>('SELECT count(*)::int AS pending FROM realtime.changes WHERE position IS NULL');
  return rows[0]?.pending ?? 0;
}
