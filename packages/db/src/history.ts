// A channel's log as readers see it: the offsets still retained, and pages of it bounded in rows and bytes, read by offset or time.
import { replayBoundedPage, replayPage, type BoundedPage, type Message, type ReplayPage } from './messages.js';
import type { Queryable } from './queryable.js';

/** Which offsets of a channel's log can still be read. */
export interface LogBounds {
  /** Oldest offset still stored; `latest + 1` when nothing is stored. */
  readonly earliest: number;
  /** Offset of the newest message ever appended (0 before the first). */
  readonly latest: number;
}

/** One page of a channel's history, oldest first. */
export interface HistoryPage extends LogBounds {
  readonly messages: Message[];
  /** The `after` that reads the next page; null when this page reached the end of the log. */
  readonly nextAfter: number | null;
}

/** Where to read a page from. */
export interface HistoryQuery {
  /** Only messages after this offset. */
  readonly after?: number;
  /** Only messages sent at or after this time. */
  readonly since?: Date;
  /** Most messages in the page. */
  readonly limit: number;
  /** The page ends with the message whose payload reaches this many bytes (it has at least one message). */
  readonly maxBytes: number;
}

/** The offsets a reader of the channel can still get, as read with a page. */
function boundsOf(page: BoundedPage): LogBounds {
  return { earliest: page.oldestStored ?? page.newest + 1, latest: page.newest };
}

/**
 * Reads one page of a channel's history in offset order, with the log's bounds of the same snapshot,
 * so a page that ends below `latest` (at its `limit` or its `maxBytes`) always has a `nextAfter`.
 */
export async function readHistory(db: Queryable, channelId: string, query: HistoryQuery): Promise<HistoryPage> {
  const page = await replayBoundedPage(db, channelId, { afterOffset: query.after, since: query.since, limit: query.limit, maxBytes: query.maxBytes });
  const bounds = boundsOf(page);
  const last = page.messages.at(-1)?.offset;
  const nextAfter = page.full && last !== undefined && last < bounds.latest ? last : null;
  return { messages: page.messages, nextAfter, ...bounds };
}

/** The log's bounds (see `LogBounds`), read without any message. */
export async function readLogBounds(db: Queryable, channelId: string): Promise<LogBounds> {
  const { rows } = await db.query<{ oldest_stored: string | null; newest: string | null }>(
    `SELECT (SELECT min(channel_offset) FROM realtime.messages WHERE channel_id = $1) AS oldest_stored,
            (SELECT last_offset FROM realtime.channels WHERE id = $1) AS newest`,
    [channelId],
  );
  const newest = Number(rows[0]?.newest ?? 0);
  const oldest = rows[0]?.oldest_stored;
  return { earliest: oldest === null || oldest === undefined ? newest + 1 : Number(oldest), latest: newest };
}

/** What Supabase's replay window holds: the newest `limit` messages sent at or after a time. */
export interface ReplayWindow {
  readonly count: number;
  /** Offsets of its oldest and newest message, null when it is empty. */
  readonly firstOffset: number | null;
  readonly lastOffset: number | null;
  /** True when older messages since that time were left out. */
  readonly truncated: boolean;
}

/** Measures Supabase's replay window without reading a payload (its messages are then read in pages). */
export async function readReplayWindow(db: Queryable, channelId: string, since: Date, limit: number): Promise<ReplayWindow> {
  const { rows } = await db.query<{ count: number; first: string | null; last: string | null; truncated: boolean }>(
    `SELECT count(*) FILTER (WHERE n <= $3)::int AS count, min(channel_offset) FILTER (WHERE n <= $3) AS first,
            max(channel_offset) AS last, count(*) > $3 AS truncated
       FROM (SELECT channel_offset, row_number() OVER (ORDER BY channel_offset DESC) AS n
               FROM realtime.messages WHERE channel_id = $1 AND sent_at >= $2
              ORDER BY channel_offset DESC LIMIT $3 + 1) AS newest`,
    [channelId, since, limit],
  );
  const row = rows[0];
  return {
    count: row?.count ?? 0,
    firstOffset: row?.first === null || row?.first === undefined ? null : Number(row.first),
    lastOffset: row?.last === null || row?.last === undefined ? null : Number(row.last),
    truncated: row?.truncated ?? false,
  };
}

/**
 * Which stored messages a join streams, after a cursor: every message after `anyTimeAfter`, and at or
 * below it those sent at or after `since` (Supabase's replay window; none without `since`).
 */
export interface StreamRange {
  readonly anyTimeAfter: number;
  readonly since: Date | undefined;
}

/** The next page of a join's stream after `cursor`, bounded in rows and bytes. */
export function readStreamPage(db: Queryable, channelId: string, range: StreamRange, cursor: number, page: { limit: number; maxBytes: number }): Promise<ReplayPage> {
  return replayPage(db, channelId, { afterOffset: cursor, since: range.since, sinceOnlyUpTo: range.anyTimeAfter, ...page });
}
