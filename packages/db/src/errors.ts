// Errors meant for the person at the keyboard: one line that says what was wrong and what is accepted.

/** An error caused by the user's input or environment; its message is shown as is, without a stack. */
export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(message: string) {
    super(message);
  }
}

/** True for errors whose message is written for users. */
export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError;
}

/**
 * True for the database's refusal of a payload over `realtime.max_payload_bytes` (SQLSTATE 22023 from
 * `realtime.checked_payload_bytes`): it measures the stored JSON text, which can be a little longer
 * than the compact JSON a server or the CLI checked.
 */
export function isPayloadOverLimit(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === '22023' && typeof message === 'string' && /^payload of \d+ bytes is over the limit of \d+ bytes/.test(message);
}
