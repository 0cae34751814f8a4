// The errors the client reports: one class with a code, each message saying what happened and what to do.
import type { Reply } from './reply.js';

/** What went wrong, as a stable code applications can switch on. */
export type RealtimeErrorCode =
  /** An option or argument was invalid. */
  | 'INVALID_ARGUMENT'
  /** No WebSocket implementation was found (Node.js without the `ws` package). */
  | 'TRANSPORT_UNAVAILABLE'
  /** The server did not answer in time. */
  | 'TIMED_OUT'
  /** The server answered with an error. */
  | 'REFUSED'
  /** Too many messages are waiting for the connection. */
  | 'QUEUE_FULL'
  /** The connection dropped before the server answered. */
  | 'CONNECTION_LOST'
  /** The channel was closed (by `unsubscribe()`, `disconnect()` or the server). */
  | 'CLOSED';

/** An error reported by `@nself/client`; `code` says which kind, `response` holds the server's answer when there is one. */
export class RealtimeError extends Error {
  override readonly name = 'RealtimeError';
  readonly code: RealtimeErrorCode;
  readonly response: unknown;

  constructor(code: RealtimeErrorCode, message: string, response?: unknown) {
    super(message);
    this.code = code;
    this.response = response;
  }
}

/** The text of a server's error response: its `reason`, `message` or `error`, a bare string, or all its values. */
export function describeResponse(response: unknown): string {
  if (typeof response === 'string') return response;
  if (typeof response === 'object' && response !== null) {
    const record = response as Record<string, unknown>;
    for (const key of ['reason', 'message', 'error']) {
      if (typeof record[key] === 'string') return record[key];
    }
    const values = Object.values(record).map((value) => (typeof value === 'string' ? value : JSON.stringify(value)));
    if (values.length > 0) return values.join(', ');
  }
  return 'the server refused without a reason';
}

/** The RealtimeError for a reply that was not ok. */
export function replyError(reply: Reply, what: string): RealtimeError {
  if (reply.status === 'timeout') return new RealtimeError('TIMED_OUT', `${what}: no answer from the server in time`);
  if (reply.status === 'lost') {
    return new RealtimeError('CONNECTION_LOST', `${what}: the connection dropped before the server answered; it may or may not have been applied`);
  }
  return new RealtimeError('REFUSED', `${what}: ${describeResponse(reply.response)}`, reply.response);
}
