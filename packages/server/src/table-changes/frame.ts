// The `data` of a postgres_changes event (PROTOCOL.md §7.3), shaped for one subscriber's visible columns.
import type { Change } from '@nself/db';
import type { PostgresChangeData, RowEvent } from '@nself/protocol';
import type { TableInfo } from './catalog.js';

/** How one subscriber sees one change. */
export interface ChangeView {
  /** Columns the subscriber may see (its role's SELECT privileges, narrowed by the bindings' `select`). */
  readonly shown: ReadonlySet<string>;
  /** `old_record` keeps only the primary key (UPDATEs and DELETEs seen through row-level security, as in Supabase). */
  readonly oldKeysOnly: boolean;
}

/**
 * The event data of `change` as `view` allows. `record` is sent for INSERT and UPDATE, `old_record`
 * for UPDATE and DELETE with the columns of the table's replica identity (the primary key by
 * default, every column with REPLICA IDENTITY FULL), or only the primary key when the view says so.
 * `bytea` values are hex without `\x`.
 */
export function changeData(change: Change, table: TableInfo, view: ChangeView): PostgresChangeData {
  const type = change.operation as RowEvent;
  const columns = table.columns.filter((column) => view.shown.has(column.name));
  const bytea = new Set(columns.filter((column) => column.type === 'bytea').map((column) => column.name));
  const oldColumns = new Set((view.oldKeysOnly ? table.primaryKey : table.identityColumns).filter((name) => view.shown.has(name)));
  return {
    schema: change.schema,
    table: change.table,
    commit_timestamp: change.commitTimestamp.toISOString(),
    type,
    columns,
    ...(type !== 'DELETE' ? { record: pick(change.new, view.shown, bytea) } : {}),
    ...(type !== 'INSERT' ? { old_record: pick(change.old, oldColumns, bytea) } : {}),
    errors: null,
    position: change.position,
  };
}

function pick(row: Record<string, unknown> | null, names: ReadonlySet<string>, bytea: ReadonlySet<string>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row ?? {})) {
    if (!names.has(name)) continue;
    result[name] = bytea.has(name) && typeof value === 'string' && value.startsWith('\\x') ? value.slice(2) : value;
  }
  return result;
}
