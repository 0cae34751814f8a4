// The `realtime:broadcast` notification: where a stored message is, and, from appends that carry it, the message itself as a read of the log would give it.
import pg from 'pg';
import { parseExactJson } from './exact-json-parse.js';
import type { Message } from './message-row.js';

/** A stored message as realtime.carried_note writes it into its notification. */
export interface CarriedMessage {
  readonly event: string;
  readonly sender: string | null;
  /** `YYYY-MM-DD HH:MM:SS.ffffff+00`, PostgreSQL's own text of a timestamptz. */
  readonly sent_at: string;
  /** The payload's jsonb text, as realtime.messages returns it; null for a binary-only message. */
  readonly payload: string | null;
  readonly payload_binary: string | null;
}

/** What a NOTIFY on `realtime:broadcast` says (realtime.message_note, realtime.carried_note, realtime.delete_message). */
export interface BroadcastNote {
  readonly id: string;
  readonly channel_id: string;
  readonly offset: number;
  /** Set when the message was deleted (realtime.delete_message) rather than stored. */
  readonly deleted?: true;
  /** The message itself, when its append carried it and it fit in the notification. */
  readonly message?: CarriedMessage;
}

const TIMESTAMPTZ_OID = 1184;
const parseTimestamp = pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text') as (text: string) => Date;

/**
 * The message a notification carries, exactly as reading it from realtime.messages would give it (the
 * payload's jsonb text and the time parsed as the log's reads parse them); undefined when the
 * notification carries none, or anything in it is not what realtime.carried_note writes.
 */
export function carriedMessage(note: BroadcastNote): Message | undefined {
  const carried: unknown = note.message;
  if (typeof carried !== 'object' || carried === null) return undefined;
  const { event, sender, sent_at: sentAt, payload, payload_binary: binary } = carried as Record<string, unknown>;
  const offset = Number(note.offset);
  if (typeof event !== 'string' || typeof sentAt !== 'string' || typeof note.id !== 'string' || !Number.isSafeInteger(offset)) return undefined;
  if (!isTextOrNull(sender) || !isTextOrNull(payload) || !isTextOrNull(binary)) return undefined;
  const sentAtDate = parseTimestamp(sentAt);
  if (!(sentAtDate instanceof Date) || Number.isNaN(sentAtDate.getTime())) return undefined;
  try {
    return {
      id: note.id,
      channelId: note.channel_id,
      offset,
      event,
      payload: payload === null ? null : parseExactJson(payload),
      payloadBinary: binary === null ? null : Buffer.from(binary, 'base64'),
      sender,
      sentAt: sentAtDate,
    };
  } catch {
    return undefined;
  }
}

function isTextOrNull(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}
