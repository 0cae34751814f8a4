// What the server needs to know about a captured table: columns with their type names, keys, row security, replica identity.
import { escapeIdentifier } from 'pg';
import type { Queryable, TableName } from '@nself/db';

/** A column as a postgres_changes frame lists it: `type` is `pg_type.typname` (`int4`, `text`, `_int4`). */
export interface FrameColumn {
  readonly name: string;
  readonly type: string;
}

/** One table's shape, as far as delivering its changes is concerned. */
export interface TableInfo extends TableName {
  readonly oid: number;
  /** `"schema"."table"`, quoted for SQL. */
  readonly sqlName: string;
  readonly columns: readonly FrameColumn[];
  readonly primaryKey: readonly string[];
  /** Columns an `old_record` carries, as logical replication would: the replica identity. */
  readonly identityColumns: readonly string[];
  /** Row-level security is enabled, so each subscriber's rows are checked. */
  readonly rowSecurity: boolean;
}

const FRESH_FOR_MS = 5_000;

/** Reads table descriptions from the catalog, keeping each for a few seconds (DDL shows up within that time). */
export class TableCatalog {
  private readonly known = new Map<string, { info: TableInfo | undefined; readAt: number }>();

  constructor(private readonly db: Queryable) {}

  /** The table's description, or undefined when it does not exist (any more). */
  async describe(table: TableName): Promise<TableInfo | undefined> {
    const key = `${table.schema}\u0000${table.table}`;
    const cached = this.known.get(key);
    if (cached && Date.now() - cached.readAt < FRESH_FOR_MS) return cached.info;
    const info = await readTableInfo(this.db, table);
    // Only tables that exist are kept: names a client makes up are not remembered one by one.
    if (info) this.known.set(key, { info, readAt: Date.now() });
    else this.known.delete(key);
    return info;
  }

  /** Forgets a table so that the next `describe` reads it again. */
  forget(table: TableName): void {
    this.known.delete(`${table.schema}\u0000${table.table}`);
  }
}

/** The ordinary and partitioned tables of a schema, by name. */
export async function tablesOfSchema(db: Queryable, schema: string): Promise<TableName[]> {
  const { rows } = await db.query<TableName>(
    `SELECT n.nspname AS schema, c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname`,
    [schema],
  );
  return rows;
}

async function readTableInfo(db: Queryable, table: TableName): Promise<TableInfo | undefined> {
  const {
    rows: [relation],
  } = await db.query<{ oid: number; rowsecurity: boolean; replident: string }>(
    `SELECT c.oid::int AS oid, c.relrowsecurity AS rowsecurity, c.relreplident::text AS replident
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [table.schema, table.table],
  );
  if (!relation) return undefined;
  const { rows } = await db.query<{ name: string; type: string; primary: boolean; replica_index: boolean }>(
    `SELECT a.attname AS name, t.typname AS type,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY (i.indkey)) AS primary,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisreplident AND a.attnum = ANY (i.indkey)) AS replica_index
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [relation.oid],
  );
  const primaryKey = rows.filter((row) => row.primary).map((row) => row.name);
  const identityColumns =
    relation.replident === 'f'
      ? rows.map((row) => row.name)
      : relation.replident === 'i'
        ? rows.filter((row) => row.replica_index).map((row) => row.name)
        : relation.replident === 'n'
          ? []
          : primaryKey;
  return {
    schema: table.schema,
    table: table.table,
    oid: relation.oid,
    sqlName: `${escapeIdentifier(table.schema)}.${escapeIdentifier(table.table)}`,
    columns: rows.map(({ name, type }) => ({ name, type })),
    primaryKey,
    identityColumns,
    rowSecurity: relation.rowsecurity,
  };
}
