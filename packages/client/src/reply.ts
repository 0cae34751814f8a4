// The answer to a request that the connection hands back: the server's reply, or why none came.

/** A reply to a request: the server's status and response, or `timeout` / `lost` when none came. */
export interface Reply {
  readonly status: 'ok' | 'error' | 'timeout' | 'lost';
  readonly response: unknown;
}
