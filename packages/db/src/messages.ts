// The broadcast log: appending messages with their channel offset (channel-log.ts reads them back).
import type pg from 'pg';
import type { Queryable } from './queryable.js';
import { MESSAGE_COLUMNS as COLUMNS, toMessage, type Message, type MessageRow } from './message-row.js';
import { checkEventName } from './validation.js';

export type { Message } from './message-row.js';

export interface NewMessage {
  readonly channelId: string;
  readonly event: string;
  readonly payload: unknown;
  readonly sender?: string | null;
  readonly payloadBinary?: Buffer | null;
}

/**
 * The channel on which every stored (or deleted) message is announced: its id, channel and offset, signed
 * once a server has made the database's note key, and the message itself when its append asked for
 * that on a public channel (`AppendOptions.carry`, see broadcast-note.ts and note-keys.ts).
 */
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

/** How appends announce their messages on `realtime:broadcast`. */
export interface AppendOptions {
  /** Each notification carries its message when it fits (realtime.carried_note), so other server processes need not read it back. */
  readonly carry?: boolean;
}

/**
 * Appends `messages` to one channel in one statement (`realtime.append_messages`): consecutive offsets
 * in array order, one NOTIFY each, all or none. Each message brings its own `id`, so a caller can
 * recognise it before the reply arrives. Returns them in offset order.
 */
export async function appendMessages(
  db: Queryable,
  channelId: string,
  messages: ReadonlyArray<Omit<NewMessage, 'channelId'> & { readonly id: string }>,
  options: AppendOptions = {},
): Promise<Message[]> {
  const { rows } = await db.query<MessageRow>(`SELECT ${COLUMNS} FROM realtime.append_messages($1, $2::uuid[], $3::text[], $4::jsonb[], $5::text[], $6::bytea[], $7)`, [
    channelId,
    messages.map((message) => message.id),
    messages.map((message) => checkEventName(message.event)),
    messages.map((message) => (message.payload === undefined || message.payload === null ? null : JSON.stringify(message.payload))),
    messages.map((message) => message.sender ?? null),
    messages.map((message) => message.payloadBinary ?? null),
    options.carry === true,
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
export async function appendMessagesOfChannels(pool: pg.Pool, messages: readonly IdentifiedMessage[], options: AppendOptions = {}): Promise<Message[]> {
  const byChannel = new Map<string, IdentifiedMessage[]>();
  for (const message of messages) byChannel.set(message.channelId, [...(byChannel.get(message.channelId) ?? []), message]);
  const client = await pool.connect();
  const stored = new Map<string, Message>();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    for (const channelId of [...byChannel.keys()].sort()) {
      for (const message of await appendMessages(client, channelId, byChannel.get(channelId) ?? [], options)) stored.set(message.id, message);
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
