// Reading a channel's log (realtime.messages): pages bounded in rows and bytes, by offset or time, from either end; the log's bounds; what it holds by time.
import type { Queryable } from './queryable.js';
import { EXACT_JSON_TYPES } from './exact-json-parse.js';
import { MESSAGE_COLUMNS, toMessage, type Message, type MessageRow } from './message-row.js';

/** Which messages of a channel's log a page holds, and where it stops. */
export interface LogPageQuery {
  /** Only messages after this offset (a reader that has seen offset N asks for N). */
  readonly afterOffset?: number;
  /** Only messages sent at or after this time. */
  readonly since?: Date;
  /** `since` holds back only messages up to this offset; those after it are read whenever they were sent. */
  readonly sinceOnlyUpTo?: number;
  /** At most this many messages. */
  readonly limit?: number;
  /**
   * Stop the page once its payloads reach this many bytes (the message that reaches it is the page's
   * last; a page always has its first message, however large).
   */
  readonly maxBytes?: number;
  /**
   * The end of the log the page is read from: `oldest` (the default) takes the first messages that
   * match, `newest` the last ones; `limit` and `maxBytes` count from that end. Either way the page
   * is returned oldest first.
   */
  readonly from?: 'oldest' | 'newest';
}

/** A page of a channel's log, oldest first. */
export interface LogPage {
  readonly messages: Message[];
  /** True when the page stopped at its `limit` or `maxBytes`: more messages may lie beyond it. */
  readonly full: boolean;
}

/** Which offsets of a channel's log can still be read. */
export interface LogBounds {
  /** Oldest offset still stored; `latest + 1` when nothing is stored. */
  readonly earliest: number;
  /** Offset of the newest message ever appended (0 before the first). */
  readonly latest: number;
}

/** A page of a channel's log with the log's bounds, read in one snapshot. */
export interface BoundedLogPage extends LogPage, LogBounds {}

/**
 * The page statement read from one end of the log; parameters: channel id, since, after offset, limit,
 * most bytes, since only up to (see `pageParameters`). A payload's size is the one recorded when it was
 * appended (`payload_bytes`), else measured; `cut` is true on every row when the byte budget left
 * messages of the page out. The payloads themselves are read only for the rows returned. The rows are
 * taken in the order of the unique index on (channel_id, channel_offset), forwards or backwards.
 */
function pageStatement(direction: 'ASC' | 'DESC'): string {
  return `SELECT ${MESSAGE_COLUMNS}, cut FROM (
    SELECT ${MESSAGE_COLUMNS}, bytes_before, bool_or(bytes_before >= $5) OVER () AS cut FROM (
      SELECT ${MESSAGE_COLUMNS}, sum(size) OVER (ORDER BY channel_offset ${direction} ROWS UNBOUNDED PRECEDING) - size AS bytes_before FROM (
        SELECT ${MESSAGE_COLUMNS},
               coalesce(payload_bytes, coalesce(octet_length(payload::text), 0) + coalesce(octet_length(payload_binary), 0)) AS size
          FROM realtime.messages
         WHERE channel_id = $1
           AND ($2::timestamptz IS NULL OR sent_at >= $2 OR channel_offset > $6::bigint)
           AND ($3::bigint IS NULL OR channel_offset > $3)
         ORDER BY channel_offset ${direction}
         LIMIT $4
      ) AS first_rows
    ) AS measured
  ) AS sized
  WHERE bytes_before < $5
  ORDER BY channel_offset`;
}

const PAGE_STATEMENTS = { oldest: pageStatement('ASC'), newest: pageStatement('DESC') };

/** No byte budget: larger than any page. */
const UNLIMITED_BYTES = '9223372036854775807';

function pageParameters(channelId: string, query: LogPageQuery): unknown[] {
  return [channelId, query.since ?? null, query.afterOffset ?? null, query.limit ?? null, query.maxBytes ?? UNLIMITED_BYTES, query.sinceOnlyUpTo ?? null];
}

/** Reads one page of a channel's log: the callers' one way to read its messages. */
export async function readLogPage(db: Queryable, channelId: string, query: LogPageQuery): Promise<LogPage> {
  const { rows } = await db.query<MessageRow & { cut: boolean }>({
    text: PAGE_STATEMENTS[query.from ?? 'oldest'],
    values: pageParameters(channelId, query),
    types: EXACT_JSON_TYPES,
  });
  return { messages: rows.map(toMessage), full: rows.length === query.limit || rows[0]?.cut === true };
}

/** `readLogPage` and the log's bounds in one statement (one round trip, one snapshot). */
export async function readBoundedLogPage(db: Queryable, channelId: string, query: LogPageQuery): Promise<BoundedLogPage> {
  const { rows } = await db.query<Partial<MessageRow> & { oldest_stored: string | null; newest: string | null; cut: boolean | null }>({
    text: `SELECT bounds.oldest_stored, bounds.newest, page.*
             FROM (${BOUNDS}) AS bounds
             LEFT JOIN LATERAL (${PAGE_STATEMENTS[query.from ?? 'oldest']}) AS page ON true
            ORDER BY page.channel_offset`,
    values: pageParameters(channelId, query),
    types: EXACT_JSON_TYPES,
  });
  const first = rows[0];
  // With no message in the page, the one row holds only the bounds.
  const messages = rows.filter((row) => typeof row.id === 'string').map((row) => toMessage(row as MessageRow));
  return { messages, full: messages.length === query.limit || first?.cut === true, ...boundsOf(first) };
}

/** The oldest offset still stored (null when none is) and the newest ever appended of channel $1. */
const BOUNDS = `SELECT (SELECT min(channel_offset) FROM realtime.messages WHERE channel_id = $1) AS oldest_stored,
                       (SELECT last_offset FROM realtime.channels WHERE id = $1) AS newest`;

function boundsOf(row: { oldest_stored?: string | null; newest?: string | null } | undefined): LogBounds {
  const latest = Number(row?.newest ?? 0);
  const oldest = row?.oldest_stored;
  return { earliest: oldest === null || oldest === undefined ? latest + 1 : Number(oldest), latest };
}

/** The log's bounds (see `LogBounds`), read without any message. */
export async function readLogBounds(db: Queryable, channelId: string): Promise<LogBounds> {
  const { rows } = await db.query<{ oldest_stored: string | null; newest: string | null }>(BOUNDS, [channelId]);
  return boundsOf(rows[0]);
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

/** How often an event was sent in a channel, and when last. */
export interface EventCount {
  readonly event: string;
  readonly count: number;
  readonly lastSentAt: Date;
}

/** The event types sent in a channel during the last `hours`, most recently sent first. */
export async function eventCounts(db: Queryable, channelId: string, hours: number): Promise<EventCount[]> {
  const { rows } = await db.query<{ event_type: string; count: number; last_sent: Date }>(
    `SELECT event_type, count(*)::int AS count, max(sent_at) AS last_sent
       FROM realtime.messages
      WHERE channel_id = $1 AND sent_at >= now() - make_interval(secs => $2::numeric * 3600)
      GROUP BY event_type
      ORDER BY last_sent DESC, event_type`,
    [channelId, hours],
  );
  return rows.map((row) => ({ event: row.event_type, count: row.count, lastSentAt: row.last_sent }));
}
