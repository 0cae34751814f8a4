// The change feed as GraphQL sees it: a view is watched through the tables it reads, a table through the feed postgres_changes uses.
import type { ChangeSource, TableRef } from '@nself/graphql';
import type { Pool } from '@nself/db';
import type { PostgresChangesExtension } from '../table-changes/postgres-changes.js';

/** The ChangeSource of the server's table change extension. */
export function graphqlChangeSource(pool: Pool, extension: PostgresChangesExtension | undefined): ChangeSource {
  const watchTables = extension?.watchTables?.bind(extension);
  const caughtUpPosition = extension?.caughtUpPosition?.bind(extension);
  if (!watchTables || !caughtUpPosition) {
    const missing = async (): Promise<never> => {
      throw new Error('GraphQL subscriptions need table change capture, which this server runs without');
    };
    return { watch: missing, position: missing };
  }
  return {
    async watch(tables, onChanges) {
      return watchTables(await baseTables(pool, tables), onChanges);
    },
    position: caughtUpPosition,
  };
}

/** `tables` with every view (or materialized view) replaced by the tables it reads, through views of views. */
async function baseTables(pool: Pool, tables: readonly TableRef[]): Promise<TableRef[]> {
  const { rows } = await pool.query<{ schema: string; table: string }>(
    `WITH RECURSIVE reads(oid) AS (
       SELECT to_regclass(format('%I.%I', named.schema, named.tbl))::oid FROM unnest($1::text[], $2::text[]) AS named(schema, tbl)
       UNION
       SELECT d.refobjid FROM reads JOIN pg_rewrite r ON r.ev_class = reads.oid
         JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> reads.oid)
     SELECT DISTINCT n.nspname AS schema, c.relname AS table FROM reads JOIN pg_class c ON c.oid = reads.oid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p')`,
    [tables.map((table) => table.schema), tables.map((table) => table.table)],
  );
  return rows;
}
