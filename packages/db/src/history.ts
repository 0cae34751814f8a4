// A channel's log as readers see it: the offsets still retained, and pages of it read by offset or time.
import { recentMessages, replayMessages, type Message } from './messages.js';
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
  /** Page size. */
  readonly limit: number;
}

/** The offsets a reader of the channel can still get: everything from `earliest` to `latest`. */
export async function logBounds(db: Queryable, channelId: string): Promise<LogBounds> {
  const { rows } = await db.query<{ earliest: string | null; latest: string | null }>(
    `SELECT (SELECT min(channel_offset) FROM realtime.messages WHERE channel_id = $1) AS earliest,
            (SELECT last_offset FROM realtime.channels WHERE id = $1) AS latest`,
    [channelId],
  );
  const latest = Number(rows[0]?.latest ?? 0);
  const earliest = rows[0]?.earliest === null || rows[0]?.earliest === undefined ? latest + 1 : Number(rows[0].earliest);
  return { earliest, latest };
}

/**
 * Reads one page of a channel's history in offset order. The bounds are read after the page, so a
 * page that ends below `latest` always has a `nextAfter`.
 */
export async function readHistory(db: Queryable, channelId: string, query: HistoryQuery): Promise<HistoryPage> {
  const messages = await replayMessages(db, channelId, { afterOffset: query.after, since: query.since, limit: query.limit });
  const bounds = await logBounds(db, channelId);
  const last = messages.at(-1)?.offset;
  const nextAfter = messages.length === query.limit && last !== undefined && last < bounds.latest ? last : null;
  return { messages, nextAfter, ...bounds };
}

/**
 * Every message after `after`, in offset order, read in pages of `pageSize`; and whether the log
 * still held all of them (false when retention already deleted some of those right after `after`).
 */
export async function readAfter(db: Queryable, channelId: string, after: number, pageSize = 1000): Promise<{ messages: Message[]; complete: boolean } & LogBounds> {
  const messages: Message[] = [];
  for (;;) {
    const page = await replayMessages(db, channelId, { afterOffset: messages.at(-1)?.offset ?? after, limit: pageSize });
    messages.push(...page);
    if (page.length < pageSize) break;
  }
  const bounds = await logBounds(db, channelId);
  const first = messages[0]?.offset;
  const complete = after >= bounds.latest || first === after + 1 || (first === undefined && after + 1 >= bounds.earliest);
  return { messages, complete, ...bounds };
}

/**
 * Supabase's replay window: the newest `limit` messages sent at or after `since`, oldest first, and
 * whether older ones since then were left out.
 */
export async function readRecentSince(db: Queryable, channelId: string, since: Date, limit: number): Promise<{ messages: Message[]; truncated: boolean }> {
  const messages = await recentMessages(db, channelId, limit + 1, since);
  const truncated = messages.length > limit;
  return { messages: truncated ? messages.slice(1) : messages, truncated };
}
