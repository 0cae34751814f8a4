// The broadcast log: appending messages with their channel offset, and reading them back.
import type pg from 'pg';
import type { Queryable } from './queryable.js';
import { EXACT_JSON_TYPES } from './exact-json-parse.js';
import { checkEventName } from './validation.js';

/** One message of a channel's log. */
export interface Message {
  readonly id: string;
  readonly channelId: string;
  /** Position in the channel's log: 1, 2, 3… in commit order. */
  readonly offset: number;
  readonly event: string;
  /** The JSON payload, or null for a binary-only message; read back from the log, numbers a JavaScript number cannot hold are ExactNumbers. */
  readonly payload: unknown;
  readonly payloadBinary: Buffer | null;
  readonly sender: string | null;
  readonly sentAt: Date;
}

/** How often an event was sent in a channel, and when last. */
export interface EventCount {
  readonly event: string;
  readonly count: number;
  readonly lastSentAt: Date;
}

interface MessageRow {
  id: string;
  channel_id: string;
  channel_offset: string;
  event_type: string;
  payload: unknown;
  payload_binary: Buffer | null;
  sender_id: string | null;
  sent_at: Date;
}

const COLUMNS = 'id, channel_id, channel_offset, event_type, payload, payload_binary, sender_id, sent_at';

export interface NewMessage {
  readonly channelId: string;
  readonly event: string;
  readonly payload: unknown;
  readonly sender?: string | null;
  readonly payloadBinary?: Buffer | null;
}

/** The channel on which every stored (or deleted) message is announced: its id, channel and offset, never its payload. */
export const BROADCAST_NOTIFY_CHANNEL = 'realtime:broadcast';

/**
 * Appends a message through `realtime.append_message`, which takes the channel's next offset and
 * sends the NOTIFY on `realtime:broadcast` in the same transaction.
 */
export async function appendMessage(db: Queryable, message: NewMessage): Promise<Message> {
  const { rows } = await db.query<MessageRow>(`SELECT ${COLUMNS} FROM realtime.append_message($1, $2, $3::jsonb, $4, $5)`, [
    message.channelId,
    checkEventName(message.event),
    message.payload === undefined || message.payload === null ? null : JSON.stringify(message.payload),
    message.sender ?? null,
    message.payloadBinary ?? null,
  ]);
  return toMessage(rows[0] as MessageRow);
}

/** The newest `limit` messages of a channel (only those sent at or after `since`, when given), oldest first. */
export async function recentMessages(db: Queryable, channelId: string, limit: number, since?: Date): Promise<Message[]> {
  const { rows } = await db.query<MessageRow>({
    text: `SELECT ${COLUMNS} FROM (
             SELECT ${COLUMNS} FROM realtime.messages
              WHERE channel_id = $1 AND ($3::timestamptz IS NULL OR sent_at >= $3)
              ORDER BY channel_offset DESC LIMIT $2
           ) newest ORDER BY channel_offset`,
    values: [channelId, limit, since ?? null],
    types: EXACT_JSON_TYPES,
  });
  return rows.map(toMessage);
}

/**
 * Appends `messages` to one channel in one statement (`realtime.append_messages`): consecutive offsets
 * in array order, one NOTIFY each, all or none. Each message brings its own `id`, so a caller can
 * recognise it before the reply arrives. Returns them in offset order.
 */
export async function appendMessages(db: Queryable, channelId: string, messages: ReadonlyArray<Omit<NewMessage, 'channelId'> & { readonly id: string }>): Promise<Message[]> {
  const { rows } = await db.query<MessageRow>(`SELECT ${COLUMNS} FROM realtime.append_messages($1, $2::uuid[], $3::text[], $4::jsonb[], $5::text[], $6::bytea[])`, [
    channelId,
    messages.map((message) => message.id),
    messages.map((message) => checkEventName(message.event)),
    messages.map((message) => (message.payload === undefined || message.payload === null ? null : JSON.stringify(message.payload))),
    messages.map((message) => message.sender ?? null),
    messages.map((message) => message.payloadBinary ?? null),
  ]);
  return rows.map(toMessage);
}

/** A message to append with `appendMessagesOfChannels`: its channel, and an id chosen by the caller. */
export type IdentifiedMessage = NewMessage & { readonly id: string };

/**
 * Appends messages of several channels in one transaction: all are stored or none. Each channel's
 * messages get consecutive offsets in the order given (channels are locked in id order, so two such
 * batches never deadlock). Returns the stored messages in the order given.
 */
export async function appendMessagesOfChannels(pool: pg.Pool, messages: readonly IdentifiedMessage[]): Promise<Message[]> {
  const byChannel = new Map<string, IdentifiedMessage[]>();
  for (const message of messages) byChannel.set(message.channelId, [...(byChannel.get(message.channelId) ?? []), message]);
  const client = await pool.connect();
  const stored = new Map<string, Message>();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    for (const channelId of [...byChannel.keys()].sort()) {
      for (const message of await appendMessages(client, channelId, byChannel.get(channelId) ?? [])) stored.set(message.id, message);
    }
    await client.query('COMMIT');
  } catch (error) {
    // A connection that cannot even roll back is discarded rather than returned to the pool.
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.release(broken);
  }
  return messages.map((message) => stored.get(message.id) as Message);
}

export interface ReplayOptions {
  /** Only messages sent at or after this time. */
  readonly since?: Date;
  /** `since` holds back only messages up to this offset; those after it are read whenever they were sent. */
  readonly sinceOnlyUpTo?: number;
  /** Only messages after this offset (a client that has seen offset N asks for N). */
  readonly afterOffset?: number;
  /** At most this many messages (the oldest first). */
  readonly limit?: number;
  /**
   * Stop the page once its payloads reach this many bytes (the message that reaches it is the page's
   * last; a page always has its first message, however large).
   */
  readonly maxBytes?: number;
}

/**
 * A page of a channel's messages in offset order; parameters: channel id, since, after offset, limit,
 * most bytes, since only up to (see `replayParameters`). A payload's size is the one recorded when it
 * was appended (`payload_bytes`), else measured; `cut` is true on every row when the byte budget left
 * messages of the page out. The payloads themselves are read only for the rows returned.
 */
const REPLAY_PAGE = `SELECT ${COLUMNS}, cut FROM (
    SELECT ${COLUMNS}, bytes_before, bool_or(bytes_before >= $5) OVER () AS cut FROM (
      SELECT ${COLUMNS}, sum(size) OVER (ORDER BY channel_offset ROWS UNBOUNDED PRECEDING) - size AS bytes_before FROM (
        SELECT ${COLUMNS},
               coalesce(payload_bytes, coalesce(octet_length(payload::text), 0) + coalesce(octet_length(payload_binary), 0)) AS size
          FROM realtime.messages
         WHERE channel_id = $1
           AND ($2::timestamptz IS NULL OR sent_at >= $2 OR channel_offset > $6::bigint)
           AND ($3::bigint IS NULL OR channel_offset > $3)
         ORDER BY channel_offset
         LIMIT $4
      ) AS first_rows
    ) AS measured
  ) AS sized
  WHERE bytes_before < $5
  ORDER BY channel_offset`;

/** No byte budget: larger than any page. */
const UNLIMITED_BYTES = '9223372036854775807';

function replayParameters(channelId: string, options: ReplayOptions): unknown[] {
  return [channelId, options.since ?? null, options.afterOffset ?? null, options.limit ?? null, options.maxBytes ?? UNLIMITED_BYTES, options.sinceOnlyUpTo ?? null];
}

/** The messages of a channel since a time and/or after an offset, in offset order. */
export async function replayMessages(db: Queryable, channelId: string, options: ReplayOptions): Promise<Message[]> {
  return (await replayPage(db, channelId, options)).messages;
}

/** A page of `replayMessages`, and whether it stopped at its `limit` or `maxBytes` (more may follow it). */
export interface ReplayPage {
  readonly messages: Message[];
  readonly full: boolean;
}

/** One page of `replayMessages`, bounded by `limit` and `maxBytes`. */
export async function replayPage(db: Queryable, channelId: string, options: ReplayOptions): Promise<ReplayPage> {
  const { rows } = await db.query<MessageRow & { cut: boolean }>({ text: REPLAY_PAGE, values: replayParameters(channelId, options), types: EXACT_JSON_TYPES });
  return { messages: rows.map(toMessage), full: rows.length === options.limit || rows[0]?.cut === true };
}

/** A page of `replayMessages`, with the channel's oldest stored offset (null when none is) and newest offset, all read in one snapshot. */
export interface BoundedPage extends ReplayPage {
  readonly oldestStored: number | null;
  readonly newest: number;
}

/** `replayPage` and the channel's log bounds in one statement (one round trip, one snapshot). */
export async function replayBoundedPage(db: Queryable, channelId: string, options: ReplayOptions): Promise<BoundedPage> {
  const { rows } = await db.query<Partial<MessageRow> & { oldest_stored: string | null; newest: string | null; cut: boolean | null }>({
    text: `SELECT bounds.oldest_stored, bounds.newest, page.*
             FROM (SELECT (SELECT min(channel_offset) FROM realtime.messages WHERE channel_id = $1) AS oldest_stored,
                          (SELECT last_offset FROM realtime.channels WHERE id = $1) AS newest) AS bounds
             LEFT JOIN LATERAL (${REPLAY_PAGE}) AS page ON true
            ORDER BY page.channel_offset`,
    values: replayParameters(channelId, options),
    types: EXACT_JSON_TYPES,
  });
  const first = rows[0];
  // With no message in the page, the one row holds only the bounds.
  const messages = rows.filter((row) => typeof row.id === 'string').map((row) => toMessage(row as MessageRow));
  return {
    messages,
    full: messages.length === options.limit || first?.cut === true,
    oldestStored: first?.oldest_stored === null || first?.oldest_stored === undefined ? null : Number(first.oldest_stored),
    newest: Number(first?.newest ?? 0),
  };
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

function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    channelId: row.channel_id,
    offset: Number(row.channel_offset),
    event: row.event_type,
    payload: row.payload,
    payloadBinary: row.payload_binary,
    sender: row.sender_id,
    sentAt: row.sent_at,
  };
}
