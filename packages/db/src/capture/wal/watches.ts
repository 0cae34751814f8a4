// Registers tables and schemas for WAL capture: a subscription row with no trigger, or a watched schema.
import type { Queryable } from '../../queryable.js';
import { CAPTURE_EVENTS, displayTableName, type TableName } from '../names.js';

/**
 * Makes the WAL consumer log every change of `tables` (each gets a `wal` subscription unless it has
 * one) and of every table, present or future, of `schemas`. Writes rows of the realtime schema only:
 * no trigger and no DDL in the application's schemas. Returns whether anything was added.
 */
export async function watchForWal(db: Queryable, tables: readonly TableName[], schemas: readonly string[]): Promise<boolean> {
  let added = 0;
  if (tables.length > 0) {
    const { rowCount } = await db.query(
      `INSERT INTO realtime.subscriptions (table_name, schema_name, relation_name, events, capture, announced_at_commit, notify_rows)
       SELECT t.display, t.schema_name, t.relation_name, $4::text[], 'wal', false, false
         FROM unnest($1::text[], $2::text[], $3::text[]) AS t(display, schema_name, relation_name)
       ON CONFLICT DO NOTHING`,
      [tables.map(displayTableName), tables.map((t) => t.schema), tables.map((t) => t.table), CAPTURE_EVENTS],
    );
    added += rowCount ?? 0;
  }
  if (schemas.length > 0) {
    const { rowCount } = await db.query('INSERT INTO realtime.schema_watches (schema_name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [schemas]);
    added += rowCount ?? 0;
  }
  return added > 0;
}
