// The `realtime:broadcast` notification: where a stored message is, and, from the server's own appends, the message itself sealed (note-seal.ts).

/** What a NOTIFY on `realtime:broadcast` says (realtime.message_note, NoteSeal.note, realtime.delete_message). */
export interface BroadcastNote {
  readonly id: string;
  readonly channel_id: string;
  readonly offset: number;
  /** Set when the message was deleted (realtime.delete_message) rather than stored. */
  readonly deleted?: true;
  /** The id of the key that sealed the message (realtime.broadcast_note_keys). */
  readonly key?: number;
  /** The message itself, sealed (base64), when a server stored it and it fit in the notification. */
  readonly sealed?: string;
}
