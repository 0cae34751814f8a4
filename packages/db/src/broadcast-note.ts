// The `realtime:broadcast` notification: where a stored message is, and, from a server's appends to a public channel, the message itself, signed (note-keys.ts).
/** What a NOTIFY on `realtime:broadcast` says (realtime.message_note, realtime.carried_note, realtime.delete_message). */
export interface BroadcastNote {
  readonly id: string;
  readonly channel_id: string;
  readonly offset: number;
  /** Set when the message was deleted (realtime.delete_message) rather than stored. */
  readonly deleted?: true;
  /** The id of the key whose HMAC `mac` is (realtime.broadcast_note_keys). */
  readonly key?: number;
  /** HMAC-SHA256 of the rest of the note's text (note-keys.ts `signedBody`), in hex. */
  readonly mac?: string;
  /** The message itself, when its append carried it and it fit in the notification. */
  readonly message?: CarriedMessage;
}

/** What a carried message says, as realtime.carried_note writes it. */
export interface CarriedMessage {
  readonly event: string;
  readonly sender: string | null;
  /** `YYYY-MM-DD HH:MM:SS.ffffff+00`, PostgreSQL's own text of a timestamptz. */
  readonly sent_at: string;
  /** The payload as the jsonb's own text says it (parsed with parseExactJson, as a read of the log parses it); null for a binary-only message. */
  readonly payload: unknown;
  readonly payload_binary: string | null;
}
