// The body of `GET /api/channels/:channel/messages`: a page of a channel's log, read by offset or time.

/** One stored message of a history page. */
export interface HistoryMessage {
  readonly id: string;
  readonly offset: number;
  readonly event: string;
  /** The JSON payload, or null for a binary-only message. */
  readonly payload: unknown;
  /** The binary payload in base64, when the message has one. */
  readonly payload_binary?: string;
  readonly sender: string | null;
  /** When it was sent, ISO 8601. */
  readonly sent_at: string;
}

/** A page of a channel's log, oldest message first. */
export interface HistoryPageBody {
  /** The channel's slug. */
  readonly channel: string;
  readonly messages: readonly HistoryMessage[];
  /** The `after` that reads the next page; null at the end of the log. */
  readonly next_after: number | null;
  readonly earliest_offset: number;
  readonly latest_offset: number;
  /** With `after`: false when retention deleted messages right after it (nothing is skipped silently). */
  readonly recovered?: boolean;
}
