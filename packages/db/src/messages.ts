// The broadcast log: appending messages with their channel offset (channel-log.ts reads them back).
import type pg from 'pg';
import type { Queryable } from './queryable.js';
import { MESSAGE_COLUMNS as COLUMNS, toMessage, type Message, type MessageRow } from './message-row.js';
import { checkEventName } from './validation.js';
import { parseExactJson } from './exact-json-parse.js';
import type { NoteSeal, SealableMessage } from './note-seal.js';

export type { Message } from './message-row.js';

export interface NewMessage {
  readonly channelId: string;
  readonly event: string;
  readonly payload: unknown;
  readonly sender?: string | null;
  readonly payloadBinary?: Buffer | null;
}

/**
 * The channel on which every stored (or deleted) message is announced: its id, channel and offset, and
 * the message itself, sealed, when a server stored it (`AppendOptions.seal`, see note-seal.ts).
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
  /** Each notification carries its message, sealed (note-seal.ts), so other server processes need not read it back. */
  readonly seal?: NoteSeal;
}

/** A message to append to a given channel, with an id chosen by the caller. */
export type ChannelMessage = Omit<NewMessage, 'channelId'> & { readonly id: string };

/** The arguments of realtime.append_messages for `messages`, after the channel id. */
function appendArguments(messages: readonly ChannelMessage[]): unknown[] {
  return [
    messages.map((message) => message.id),
    messages.map((message) => checkEventName(message.event)),
    messages.map((message) => (message.payload === undefined || message.payload === null ? null : JSON.stringify(message.payload))),
    messages.map((message) => message.sender ?? null),
    messages.map((message) => message.payloadBinary ?? null),
  ];
}

const APPEND_CALL = 'realtime.append_messages($1, $2::uuid[], $3::text[], $4::jsonb[], $5::text[], $6::bytea[], $7)';

/**
 * Appends `messages` to one channel in one statement (`realtime.append_messages`): consecutive offsets
 * in array order, one NOTIFY each saying where it is, all or none. Each message brings its own `id`, so
 * a caller can recognise it before the reply arrives. Returns them in offset order.
 */
export async function appendMessages(db: Queryable, channelId: string, messages: readonly ChannelMessage[]): Promise<Message[]> {
  const { rows } = await db.query<MessageRow>(`SELECT ${COLUMNS} FROM ${APPEND_CALL}`, [channelId, ...appendArguments(messages), true]);
  return rows.map(toMessage);
}

/**
 * Appends `messages` to one channel without announcing them (the caller announces them before it
 * commits), each with its payload's jsonb text as a read of the log returns it.
 */
async function appendUnannounced(db: Queryable, channelId: string, messages: readonly ChannelMessage[]): Promise<SealableMessage[]> {
  const { rows } = await db.query<Omit<MessageRow, 'payload'> & { payload_text: string | null }>(
    `SELECT id, channel_id, channel_offset, event_type, payload::text AS payload_text, payload_binary, sender_id, sent_at FROM ${APPEND_CALL}`,
    [channelId, ...appendArguments(messages), false],
  );
  return rows.map(({ payload_text: payloadText, ...row }) => ({
    message: toMessage({ ...row, payload: payloadText === null ? null : parseExactJson(payloadText) }),
    payloadText,
  }));
}

/** Sends each message's sealed notification, in order; they go out when the transaction commits. */
async function announceSealed(db: Queryable, seal: NoteSeal, stored: readonly SealableMessage[]): Promise<void> {
  await db.query('SELECT pg_notify($1, note) FROM unnest($2::text[]) AS note', [BROADCAST_NOTIFY_CHANNEL, stored.map((entry) => seal.note(entry))]);
}

/** A message to append with `appendMessagesOfChannels`: its channel, and an id chosen by the caller. */
export type IdentifiedMessage = NewMessage & { readonly id: string };

/**
 * Appends messages of several channels in one transaction: all are stored or none. Each channel's
 * messages get consecutive offsets in the order given (channels are locked in id order, so two such
 * batches never deadlock). With `options.seal`, each notification carries its message sealed.
 * Returns the stored messages in the order given.
 */
export async function appendMessagesOfChannels(pool: pg.Pool, messages: readonly IdentifiedMessage[], options: AppendOptions = {}): Promise<Message[]> {
  const byChannel = new Map<string, IdentifiedMessage[]>();
  for (const message of messages) byChannel.set(message.channelId, [...(byChannel.get(message.channelId) ?? []), message]);
  const client = await pool.connect();
  const stored = new Map<string, Message>();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const sealable: SealableMessage[] = [];
    for (const channelId of [...byChannel.keys()].sort()) {
      const channelMessages = byChannel.get(channelId) ?? [];
      if (options.seal) sealable.push(...(await appendUnannounced(client, channelId, channelMessages)));
      else for (const message of await appendMessages(client, channelId, channelMessages)) stored.set(message.id, message);
    }
    if (options.seal) {
      await announceSealed(client, options.seal, sealable);
      for (const { message } of sealable) stored.set(message.id, message);
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
