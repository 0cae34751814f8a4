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
