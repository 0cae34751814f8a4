// Checks on values that reach the realtime tables, shared by the CLI and the server.
import { UserError } from './errors.js';

/** Longest user id and channel name accepted, in characters (the column CHECKs agree). */
export const MAX_USER_ID_LENGTH = 255;
/**
 * Longest event name accepted, in UTF-8 bytes: the V2 binary broadcast frame gives the event a
 * one-byte length, so a longer name could be stored but never delivered to V2 clients (the column
 * CHECK messages_event_type_at_most_255_bytes agrees).
 */
export const MAX_EVENT_BYTES = 255;

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

/** Characters PostgreSQL text cannot hold: NUL, and surrogate halves without their other half. */
const UNSTORABLE_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `event` is not an accepted event name (1 to 255 UTF-8 bytes), or undefined when it is one. */
export function eventNameProblem(event: string): string | undefined {
  if (event.length === 0) return 'event name must not be empty';
  if (UNSTORABLE_TEXT.test(event)) return 'event name must not contain a NUL character or half of a UTF-16 surrogate pair';
  const bytes = Buffer.byteLength(event, 'utf8');
  if (bytes > MAX_EVENT_BYTES) return `event name is ${bytes} bytes in UTF-8; at most ${MAX_EVENT_BYTES} bytes are accepted`;
  return undefined;
}

/** An event name such as `user.joined`: 1 to 255 bytes in UTF-8. */
export function checkEventName(event: string): string {
  const problem = eventNameProblem(event);
  if (problem) throw new UserError(problem);
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
export const UNPRINTABLE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

/** `value` when it holds no character of UNPRINTABLE_CHARACTERS, else a UserError naming the first one and its position. */
export function checkPrintable(value: string, what: string): string {
  const match = UNPRINTABLE_CHARACTERS.exec(value);
  if (!match) return value;
  const position = [...value.slice(0, match.index)].length + 1;
  const code = `U+${(match[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  throw new UserError(
    `${what} contains the control character ${code} at position ${position}; ` +
      'letters, digits, punctuation, symbols and spaces are accepted, but no control characters (U+0000–U+001F, U+007F–U+009F) ' +
      'or bidirectional overrides (U+202A–U+202E, U+2066–U+2069)',
  );
}
