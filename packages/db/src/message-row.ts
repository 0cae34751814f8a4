// A channel log's message as realtime.messages stores it, and as the appends and reads of the log hand it back.

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

/** A row of realtime.messages with MESSAGE_COLUMNS. */
export interface MessageRow {
  id: string;
  channel_id: string;
  channel_offset: string;
  event_type: string;
  payload: unknown;
  payload_binary: Buffer | null;
  sender_id: string | null;
  sent_at: Date;
}

/** The columns of realtime.messages that make a Message. */
export const MESSAGE_COLUMNS = 'id, channel_id, channel_offset, event_type, payload, payload_binary, sender_id, sent_at';

export function toMessage(row: MessageRow): Message {
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
