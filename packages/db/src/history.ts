// A channel's log as readers see it: the offsets still retained, and pages of it read by offset or time.
import { recentMessages, replayBoundedPage, type BoundedPage, type Message } from './messages.js';
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

/** The offsets a reader of the channel can still get, as read with a page. */
function boundsOf(page: BoundedPage): LogBounds {
  return { earliest: page.oldestStored ?? page.newest + 1, latest: page.newest };
}

/**
 * Reads one page of a channel's history in offset order, with the log's bounds of the same snapshot,
 * so a page that ends below `latest` always has a `nextAfter`.
 */
export async function readHistory(db: Queryable, channelId: string, query: HistoryQuery): Promise<HistoryPage> {
  const page = await replayBoundedPage(db, channelId, { afterOffset: query.after, since: query.since, limit: query.limit });
  const bounds = boundsOf(page);
  const last = page.messages.at(-1)?.offset;
  const nextAfter = page.messages.length === query.limit && last !== undefined && last < bounds.latest ? last : null;
  return { messages: page.messages, nextAfter, ...bounds };
}

/**
 * Every message after `after`, in offset order, read in pages of `pageSize` (one round trip when
 * they fit in one); and whether the log still held all of them (false when retention already
 * deleted some of those right after `after`). The bounds are those read with the last page.
 */
export async function readAfter(db: Queryable, channelId: string, after: number, pageSize = 1000): Promise<{ messages: Message[]; complete: boolean } & LogBounds> {
  const messages: Message[] = [];
  let page: BoundedPage;
  do {
    page = await replayBoundedPage(db, channelId, { afterOffset: messages.at(-1)?.offset ?? after, limit: pageSize });
    messages.push(...page.messages);
  } while (page.messages.length === pageSize);
  const bounds = boundsOf(page);
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
