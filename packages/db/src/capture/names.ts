// Names for table capture: parsing `schema.table` as SQL does, the seed's function, trigger and channel names, and the capture modes.
import { createHash } from 'node:crypto';
import { CAPTURE_EVENTS, type CaptureEvent } from '@nself/protocol/table-events';
import { UserError } from '../errors.js';

/** How changes of a table are announced besides the log row. */
export const CAPTURE_MODES = ['notify', 'poll'] as const;
export type CaptureMode = (typeof CAPTURE_MODES)[number];

/** A table as PostgreSQL knows it: exact schema and table names, case and all. */
export interface TableName {
  readonly schema: string;
  readonly table: string;
}

/** Events a subscription can capture, from the one list of table events; TRUNCATE is announced once per statement. */
export { CAPTURE_EVENTS, type CaptureEvent };

/** The longest identifier PostgreSQL keeps (NAMEDATALEN - 1 bytes); NOTIFY channels share the limit. */
const MAX_IDENTIFIER_BYTES = 63;
const SIMPLE_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const TABLE_FORMS = 'expected schema.table such as public.users, or "Quoted Schema"."Quoted Table"';

/**
 * Parses a table name the way SQL does: `public.users`, `users` (schema public), `"My Schema"."Order Items"`.
 * Unquoted parts fold to lower case; quoted parts are kept exactly, with `""` for a quote.
 */
export function parseTableName(text: string): TableName {
  const parts: string[] = [];
  let index = 0;
  const input = text.trim();
  while (index <= input.length) {
    let part = '';
    if (input[index] === '"') {
      index += 1;
      for (;;) {
        if (index >= input.length) throw new UserError(`invalid table name "${text}": unterminated quote; ${TABLE_FORMS}`);
        if (input[index] === '"') {
          if (input[index + 1] === '"') {
            part += '"';
            index += 2;
            continue;
          }
          index += 1;
          break;
        }
        part += input[index];
        index += 1;
      }
    } else {
      const match = /^[^."]*/.exec(input.slice(index))?.[0] ?? '';
      if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(match)) {
        throw new UserError(`invalid table name "${text}"; ${TABLE_FORMS}`);
      }
      part = match.toLowerCase();
      index += match.length;
    }
    if (part.length === 0) throw new UserError(`invalid table name "${text}": empty name; ${TABLE_FORMS}`);
    parts.push(part);
    if (index === input.length) break;
    if (input[index] !== '.') throw new UserError(`invalid table name "${text}"; ${TABLE_FORMS}`);
    index += 1;
  }
  if (parts.length === 1) return { schema: 'public', table: parts[0] ?? '' };
  if (parts.length === 2) return { schema: parts[0] ?? '', table: parts[1] ?? '' };
  throw new UserError(`invalid table name "${text}": too many dots; ${TABLE_FORMS}`);
}

/** One identifier as a user would type it: bare when SQL keeps it as is, otherwise double-quoted. */
export function displayIdentifier(name: string): string {
  return SIMPLE_IDENTIFIER.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** `public.users`, or `public."Order Items"`: unambiguous, and what `parseTableName` reads back. */
export function displayTableName(name: TableName): string {
  return `${displayIdentifier(name.schema)}.${displayIdentifier(name.table)}`;
}

/** The NOTIFY channel of a table, as the seed names it: `realtime:table:public.users`. */
export function notifyChannel(name: TableName): string {
  return fitIdentifier(`realtime:table:${displayTableName(name)}`, name);
}

/**
 * The trigger function's name in schema realtime: `notify_<schema>_<table>` as in the seed when both
 * names are plain lower-case words; otherwise a lower-case spelling plus a hash of the exact names,
 * so that mixed-case, quoted and long names never collide or overflow. `hashed` forces the hash.
 */
export function triggerFunctionName(name: TableName, hashed = false): string {
  const plain = `notify_${name.schema}_${name.table}`;
  if (!hashed && SIMPLE_IDENTIFIER.test(name.schema) && SIMPLE_IDENTIFIER.test(name.table) && Buffer.byteLength(plain) <= MAX_IDENTIFIER_BYTES) {
    return plain;
  }
  const spelled = `notify_${spell(name.schema)}_${spell(name.table)}`;
  return `${truncateBytes(spelled, MAX_IDENTIFIER_BYTES - 9)}_${shortHash(name)}`;
}

/** The trigger for one event, as the seed names it: `realtime_INSERT_users` (hashed when too long). */
export function triggerName(event: CaptureEvent, name: TableName): string {
  return fitIdentifier(`realtime_${event}_${name.table}`, name);
}

/** Keeps `text` when it fits in an identifier, else cuts it and appends a hash of the table's exact names. */
function fitIdentifier(text: string, name: TableName): string {
  if (Buffer.byteLength(text) <= MAX_IDENTIFIER_BYTES) return text;
  return `${truncateBytes(text, MAX_IDENTIFIER_BYTES - 9)}~${shortHash(name)}`;
}

function spell(identifier: string): string {
  return (
    identifier
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '') || 'x'
  );
}

function shortHash(name: TableName): string {
  return createHash('sha256').update(`${name.schema}\u0000${name.table}`).digest('hex').slice(0, 8);
}

function truncateBytes(text: string, maxBytes: number): string {
  let result = '';
  for (const character of text) {
    if (Buffer.byteLength(result + character) > maxBytes) break;
    result += character;
  }
  return result;
}
