// Statistics of the realtime schema, as named sections that other modules can add to.
import type { Queryable } from './queryable.js';
import { CHANNEL_TYPES } from './channels.js';
import { presenceStats } from './presence.js';

/** One section of `nself realtime stats`: a small table. */
export interface StatsTable {
  readonly columns: readonly string[];
  readonly rows: readonly Record<string, unknown>[];
}

/** Produces one section; `name` is its key in JSON output, `title` its heading in tables. */
export interface StatsSection {
  readonly name: string;
  readonly title: string;
  collect(db: Queryable): Promise<StatsTable>;
}

/** A section as collected: its name, title and table. */
export interface CollectedStats extends StatsTable {
  readonly name: string;
  readonly title: string;
}

/** Row counts that `status` shows. */
export interface SchemaCounts {
  readonly channels: number;
  readonly members: number;
  readonly messages: number;
  readonly present: number;
  readonly subscriptions: number;
  readonly connections: number;
}

const sections: StatsSection[] = [
  {
    name: 'channels',
    title: 'Channels by type',
    async collect(db) {
      const { rows } = await db.query<{ type: string; channels: number; members: number; messages_sent: string }>(
        `SELECT t.type,
                (SELECT count(*) FROM realtime.channels c WHERE c.type = t.type)::int AS channels,
                (SELECT count(*) FROM realtime.channel_members m JOIN realtime.channels c ON c.id = m.channel_id
                  WHERE c.type = t.type)::int AS members,
                (SELECT coalesce(sum(c.last_offset), 0) FROM realtime.channels c WHERE c.type = t.type)::bigint AS messages_sent
           FROM unnest($1::text[]) WITH ORDINALITY AS t(type, position)
          ORDER BY t.position`,
        [CHANNEL_TYPES],
      );
      return {
        columns: ['type', 'channels', 'members', 'messages_sent'],
        rows: rows.map((row) => ({ ...row, messages_sent: Number(row.messages_sent) })),
      };
    },
  },
  {
    name: 'messages',
    title: 'Stored messages',
    async collect(db) {
      const { rows } = await db.query(
        `SELECT count(*)::int AS total,
                count(*) FILTER (WHERE sent_at >= now() - interval '1 hour')::int AS last_hour,
                count(*) FILTER (WHERE sent_at >= now() - interval '24 hours')::int AS last_24h,
                count(DISTINCT channel_id) FILTER (WHERE sent_at >= now() - interval '24 hours')::int AS active_channels_24h,
                min(sent_at) AS oldest, max(sent_at) AS newest
           FROM realtime.messages`,
      );
      return { columns: ['total', 'last_hour', 'last_24h', 'active_channels_24h', 'oldest', 'newest'], rows };
    },
  },
  {
    name: 'busiest_channels',
    title: 'Busiest channels (last 24 hours)',
    async collect(db) {
      const { rows } = await db.query(
        `SELECT c.slug AS channel, count(*)::int AS messages_24h, count(DISTINCT m.event_type)::int AS event_types,
                max(m.sent_at) AS last_sent
           FROM realtime.messages m JOIN realtime.channels c ON c.id = m.channel_id
          WHERE m.sent_at >= now() - interval '24 hours'
          GROUP BY c.slug ORDER BY messages_24h DESC, c.slug LIMIT 10`,
      );
      return { columns: ['channel', 'messages_24h', 'event_types', 'last_sent'], rows };
    },
  },
  {
    name: 'presence',
    title: 'Presence',
    async collect(db) {
      const stats = await presenceStats(db);
      return {
        columns: ['online', 'away', 'offline', 'total_users', 'total_channels'],
        rows: [{ online: stats.online, away: stats.away, offline: stats.offline, total_users: stats.totalUsers, total_channels: stats.totalChannels }],
      };
    },
  },
  {
    name: 'connections',
    title: 'Connections',
    async collect(db) {
      const { rows } = await db.query(
        `SELECT count(*) FILTER (WHERE status = 'connected')::int AS connected,
                count(*) FILTER (WHERE status = 'disconnected')::int AS disconnected,
                count(DISTINCT user_id) FILTER (WHERE status = 'connected')::int AS users,
                count(DISTINCT server_id) FILTER (WHERE status = 'connected')::int AS servers
           FROM realtime.connections`,
      );
      return { columns: ['connected', 'disconnected', 'users', 'servers'], rows };
    },
  },
];

/** Adds a section to `stats` (after the built-in ones); a section with the same name is replaced. */
export function registerStatsSection(section: StatsSection): void {
  const index = sections.findIndex((existing) => existing.name === section.name);
  if (index >= 0) sections[index] = section;
  else sections.push(section);
}

/** Collects every registered section, in order. */
export async function collectStats(db: Queryable): Promise<CollectedStats[]> {
  const collected: CollectedStats[] = [];
  for (const section of sections) {
    collected.push({ name: section.name, title: section.title, ...(await section.collect(db)) });
  }
  return collected;
}

/** Row counts of the realtime tables for `status`. */
export async function schemaCounts(db: Queryable): Promise<SchemaCounts> {
  const { rows } = await db.query<SchemaCounts>(
    `SELECT (SELECT count(*) FROM realtime.channels)::int AS channels,
            (SELECT count(*) FROM realtime.channel_members)::int AS members,
            (SELECT count(*) FROM realtime.messages)::int AS messages,
            (SELECT count(*) FROM realtime.presence WHERE status <> 'offline')::int AS present,
            (SELECT count(*) FROM realtime.subscriptions)::int AS subscriptions,
            (SELECT count(*) FROM realtime.connections WHERE status = 'connected')::int AS connections`,
  );
  return rows[0] as SchemaCounts;
}
