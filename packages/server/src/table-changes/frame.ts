// The `data` of a postgres_changes event in Supabase's shape, cut to the columns one subscriber may see.
import { stringifyExact, type Change, type TableDescription } from '@nself/db';
import type { PostgresChangeData, RowEvent } from '@nself/protocol';

/** How one subscriber sees one change. */
export interface ChangeView {
  /** Columns the subscriber may see (its role's SELECT privileges, narrowed by the bindings' `select`). */
  readonly shown: ReadonlySet<string>;
  /** `old_record` keeps only the primary key (UPDATEs and DELETEs seen through row-level security, as in Supabase). */
  readonly oldKeysOnly: boolean;
}

/** Hosted Supabase's limit on a change it sends whole: above it `record` and `old_record` keep only short values. */
const MAX_CHANGE_BYTES = 1024 * 1024;
/** The most bytes a value may take (as text) to stay in a change over MAX_CHANGE_BYTES. */
const SHORT_VALUE_BYTES = 64;
export const NO_PRIMARY_KEY = 'Error 400: Bad Request, no primary key';
export const PAYLOAD_TOO_LARGE = 'Error 413: Payload Too Large';

/**
 * The event data of `change` as `view` allows. `record` is sent for INSERT and UPDATE, `old_record`
 * for UPDATE and DELETE with the columns of the table's replica identity (the primary key by
 * default, every column with REPLICA IDENTITY FULL), or only the primary key when the view says so.
 * `bytea` values are hex without `\x`. As hosted Supabase does, an INSERT or UPDATE of a table without
 * a primary key carries no values and the error NO_PRIMARY_KEY, and a change larger than
 * MAX_CHANGE_BYTES keeps only values of at most SHORT_VALUE_BYTES, with the error PAYLOAD_TOO_LARGE.
 */
export function changeData(change: Change, table: TableDescription, view: ChangeView): PostgresChangeData {
  const type = change.operation as RowEvent;
  const shown = table.columns.filter((column) => view.shown.has(column.name));
  const columns = shown.map((column) => ({ name: column.name, type: column.typeName }));
  const bytea = new Set(shown.filter((column) => column.typeName === 'bytea').map((column) => column.name));
  const oldColumns = new Set((view.oldKeysOnly ? table.primaryKey : table.identityColumns).filter((name) => view.shown.has(name)));
  const keyless = table.primaryKey.length === 0 && type !== 'DELETE';
  const tooLarge = !keyless && exceedsSendableSize(change);
  const values = (row: Record<string, unknown> | null, names: ReadonlySet<string>) => {
    if (keyless) return {};
    const picked = pick(row, names, bytea);
    return tooLarge ? shortValuesOf(picked) : picked;
  };
  return {
    schema: change.schema,
    table: change.table,
    commit_timestamp: change.commitTimestamp.toISOString(),
    type,
    columns,
    ...(type !== 'DELETE' ? { record: values(change.new, view.shown) } : {}),
    ...(type !== 'INSERT' ? { old_record: values(change.old, oldColumns) } : {}),
    errors: keyless ? [NO_PRIMARY_KEY] : tooLarge ? [PAYLOAD_TOO_LARGE] : null,
    position: change.position,
  };
}

const sizeVerdicts = new WeakMap<Change, boolean>();

/** Whether the change's rows take more than MAX_CHANGE_BYTES as JSON (judged once per change, and exactly only when they might). */
function exceedsSendableSize(change: Change): boolean {
  let verdict = sizeVerdicts.get(change);
  if (verdict === undefined) {
    // A UTF-16 unit takes at most 3 bytes in UTF-8, JSON escapes aside: rows well below the limit are passed at a glance.
    verdict =
      (textLength(change.new) + textLength(change.old)) * 3 > MAX_CHANGE_BYTES &&
      Buffer.byteLength(stringifyExact(change.new)) + Buffer.byteLength(stringifyExact(change.old)) > MAX_CHANGE_BYTES;
    sizeVerdicts.set(change, verdict);
  }
  return verdict;
}

/** A rough size of a row in characters: its strings' lengths, and a number's worth for anything else. */
function textLength(value: unknown): number {
  if (typeof value === 'string') return value.length + 2;
  if (value === null || typeof value !== 'object') return 24;
  let length = 2;
  for (const [key, inner] of Object.entries(value)) length += key.length + 3 + textLength(inner);
  return length;
}

/** The values of `row` whose text takes at most SHORT_VALUE_BYTES (a NULL has no text and goes, as in Supabase). */
function shortValuesOf(row: Record<string, unknown>): Record<string, unknown> {
  const short: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) {
    if (value === null || value === undefined) continue;
    const text = typeof value === 'string' ? value : stringifyExact(value);
    if (Buffer.byteLength(text) <= SHORT_VALUE_BYTES) short[name] = value;
  }
  return short;
}

function pick(row: Record<string, unknown> | null, names: ReadonlySet<string>, bytea: ReadonlySet<string>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row ?? {})) {
    if (!names.has(name)) continue;
    result[name] = bytea.has(name) && typeof value === 'string' && value.startsWith('\\x') ? value.slice(2) : value;
  }
  return result;
}
