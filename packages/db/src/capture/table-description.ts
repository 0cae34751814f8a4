// The one description of a table that capture, the change feed and table change delivery read: columns, keys, row security, replica identity.
import { escapeIdentifier } from 'pg';
import type { Queryable } from '../queryable.js';
import type { TableName } from './names.js';

/** A column of a table. */
export interface TableColumn {
  readonly name: string;
  /** The SQL type as `format_type` spells it (`integer`, `character varying(20)`, `integer[]`): what casts to the column's type name. */
  readonly type: string;
  /** `pg_type.typname` (`int4`, `varchar`, `_int4`): how postgres_changes frames name a column's type. */
  readonly typeName: string;
}

/** A table that exists, as far as capturing and delivering its changes is concerned. */
export interface TableDescription extends TableName {
  readonly oid: number;
  /** `"schema"."table"`, quoted for SQL. */
  readonly sqlName: string;
  /** The live columns, in column order. */
  readonly columns: readonly TableColumn[];
  readonly primaryKey: readonly string[];
  /** Columns an `old_record` carries, as logical replication would: the replica identity. */
  readonly identityColumns: readonly string[];
  /** Row-level security is enabled, so each subscriber's rows are checked. */
  readonly rowSecurity: boolean;
}

/** A relation of the catalog by name, of any kind (`relkind`: `r` a table, `p` a partitioned table, `v` a view, …). */
export interface CatalogRelation {
  readonly oid: number;
  readonly relkind: string;
  readonly rowSecurity: boolean;
  /** `relreplident`: `d` the primary key, `f` every column, `i` an index, `n` nothing. */
  readonly replicaIdentity: string;
}

/** True for the relations whose changes can be captured: ordinary and partitioned tables. */
export function isTable(relation: CatalogRelation): boolean {
  return relation.relkind === 'r' || relation.relkind === 'p';
}

/** The relation named `table`, or undefined when there is none. */
export async function findRelation(db: Queryable, table: TableName): Promise<CatalogRelation | undefined> {
  const { rows } = await db.query<CatalogRelation>(
    `SELECT c.oid::int AS oid, c.relkind::text AS relkind, c.relrowsecurity AS "rowSecurity", c.relreplident::text AS "replicaIdentity"
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [table.schema, table.table],
  );
  return rows[0];
}

/** The description of the table `table`, or undefined when it does not exist (any more) or is not a table. */
export async function describeTable(db: Queryable, table: TableName): Promise<TableDescription | undefined> {
  const relation = await findRelation(db, table);
  return relation && isTable(relation) ? describeRelation(db, table, relation) : undefined;
}

/** The description of a table already found in the catalog (`findRelation`). */
export async function describeRelation(db: Queryable, table: TableName, relation: CatalogRelation): Promise<TableDescription> {
  const { rows } = await db.query<{ name: string; type: string; typeName: string; primary: boolean; replicaIndex: boolean }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typname AS "typeName",
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY (i.indkey)) AS primary,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisreplident AND a.attnum = ANY (i.indkey)) AS "replicaIndex"
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [relation.oid],
  );
  const primaryKey = rows.filter((row) => row.primary).map((row) => row.name);
  const identity = relation.replicaIdentity;
  const identityColumns =
    identity === 'f' ? rows.map((row) => row.name) : identity === 'i' ? rows.filter((row) => row.replicaIndex).map((row) => row.name) : identity === 'n' ? [] : primaryKey;
  return {
    schema: table.schema,
    table: table.table,
    oid: relation.oid,
    sqlName: `${escapeIdentifier(table.schema)}.${escapeIdentifier(table.table)}`,
    columns: rows.map(({ name, type, typeName }) => ({ name, type, typeName })),
    primaryKey,
    identityColumns,
    rowSecurity: relation.rowSecurity,
  };
}

/** The ordinary and partitioned tables of a schema (not partitions), by name. */
export async function tablesOfSchema(db: Queryable, schema: string): Promise<TableName[]> {
  const { rows } = await db.query<TableName>(
    `SELECT n.nspname AS schema, c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname`,
    [schema],
  );
  return rows;
}
