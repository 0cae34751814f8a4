// Checks on values that reach the realtime tables, shared by the CLI and the server.
import { UserError } from './errors.js';

/** Longest user id, event name and channel name accepted (the column CHECKs agree). */
export const MAX_USER_ID_LENGTH = 255;
export const MAX_EVENT_LENGTH = 255;

/** Returns `value` when it is one of `allowed`, else throws naming the accepted values. */
export function checkChoice<T extends string>(value: string, allowed: readonly T[], what: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UserError(`invalid ${what} "${value}"; expected one of: ${allowed.join(', ')}`);
}

/** A user id: any text of 1 to 255 characters (apps use UUIDs or strings like `user-123`). */
export function checkUserId(userId: string): string {
  if (userId.length === 0) throw new UserError('user id must not be empty');
  if ([...userId].length > MAX_USER_ID_LENGTH) throw new UserError(`user id is longer than ${MAX_USER_ID_LENGTH} characters`);
  return userId;
}

/** An event name such as `user.joined`: 1 to 255 characters. */
export function checkEventName(event: string): string {
  if (event.length === 0) throw new UserError('event name must not be empty');
  if ([...event].length > MAX_EVENT_LENGTH) throw new UserError(`event name is longer than ${MAX_EVENT_LENGTH} characters`);
  return event;
}

/** A plain JSON object (not an array, string, number or null), as metadata and payloads must be. */
export function checkJsonObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
  throw new UserError(`${what} must be a JSON object like {"key": "value"}, got ${kind}`);
}

/**
 * Characters a name shown at a terminal may not hold: C0 controls, DEL, C1 controls, and the
 * bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069), which can clear a screen,
 * move the cursor or reorder what an operator reads. Migration 0013 refuses the same in SQL.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

/** `value` when it holds no character of UNPRINTABLE, else a UserError naming the first one and its position. */
export function checkPrintable(value: string, what: string): string {
  const match = UNPRINTABLE.exec(value);
  if (!match) return value;
  const position = [...value.slice(0, match.index)].length + 1;
  const code = `U+${(match[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  throw new UserError(
    `${what} contains the control character ${code} at position ${position}; ` +
    'letters, digits, punctuation, symbols and spaces are accepted, but no control characters (U+0000–U+001F, U+007F–U+009F) ' +
    'or bidirectional overrides (U+202A–U+202E, U+2066–U+2069)',
  );
}
