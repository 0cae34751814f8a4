// The tables and views a role may read, with their columns, primary keys and foreign keys, read from the PostgreSQL catalog.
import type { Queryable } from '@nself/db';

/** A column the role may select. */
export interface ColumnInfo {
  readonly name: string;
  /** The type's name in pg_type (`int4`, `text`, `uuid`, `_text` for text[]): it picks the GraphQL scalar. */
  readonly typeName: string;
  /** The type as SQL writes it (format_type), to cast bound text to. */
  readonly sqlType: string;
  readonly nullable: boolean;
  /** Whether the column's collation is deterministic (equal text is equal bytes); null for types without a collation. */
  readonly deterministicCollation: boolean | null;
}

/** A foreign key from `columns` of one relation to `references` of another. */
export interface ForeignKey {
  readonly columns: readonly string[];
  readonly targetSchema: string;
  readonly targetName: string;
  readonly references: readonly string[];
}

/** A table or view the role may select from. */
export interface RelationInfo {
  readonly schema: string;
  readonly name: string;
  /** A table (or partitioned table), whose changes are captured under its own name; false for views, materialized views and foreign tables. */
  readonly isTable: boolean;
  readonly columns: readonly ColumnInfo[];
  /** Primary key columns (empty for views and tables without one). */
  readonly primaryKey: readonly string[];
  readonly foreignKeys: readonly ForeignKey[];
}

interface CatalogRow {
  schema: string;
  name: string;
  is_table: boolean;
  columns: { name: string; type_name: string; sql_type: string; nullable: boolean; deterministic: boolean | null }[];
  primary_key: string[] | null;
  foreign_keys: { columns: string[]; target_schema: string; target_name: string; references: string[] }[];
}

/**
 * Reads the relations of `schemas` that `role` may select from (null: the server's own user, which
 * sees all), with only the columns the role may select. Foreign keys are kept when the role may read
 * both ends' key columns.
 */
export async function readCatalog(db: Queryable, schemas: readonly string[], role: string | null): Promise<RelationInfo[]> {
  const { rows } = await db.query<CatalogRow>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind IN ('r', 'p') AS is_table,
            (SELECT json_agg(json_build_object('name', a.attname, 'type_name', t.typname, 'sql_type', format_type(a.atttypid, a.atttypmod), 'nullable', NOT a.attnotnull,
                                               'deterministic', co.collisdeterministic) ORDER BY a.attnum)
               FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_collation co ON co.oid = a.attcollation
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                AND ($2::text IS NULL OR has_column_privilege($2, c.oid, a.attnum, 'SELECT'))) AS columns,
            (SELECT array_agg(a.attname::text ORDER BY k.ord)
               FROM pg_constraint pk, unnest(pk.conkey) WITH ORDINALITY AS k(attnum, ord), pg_attribute a
              WHERE pk.conrelid = c.oid AND pk.contype = 'p' AND a.attrelid = c.oid AND a.attnum = k.attnum) AS primary_key,
            (SELECT coalesce(json_agg(json_build_object(
                      'columns', (SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(fk.conkey) WITH ORDINALITY AS k(attnum, ord) JOIN pg_attribute a ON a.attrelid = fk.conrelid AND a.attnum = k.attnum),
                      'target_schema', tn.nspname, 'target_name', tc.relname,
                      'references', (SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(fk.confkey) WITH ORDINALITY AS k(attnum, ord) JOIN pg_attribute a ON a.attrelid = fk.confrelid AND a.attnum = k.attnum))
                    ORDER BY fk.conname), '[]')
               FROM pg_constraint fk JOIN pg_class tc ON tc.oid = fk.confrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
              WHERE fk.conrelid = c.oid AND fk.contype = 'f') AS foreign_keys
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
        AND ($2::text IS NULL OR (has_schema_privilege($2, n.oid, 'USAGE') AND has_any_column_privilege($2, c.oid, 'SELECT')))
      ORDER BY n.nspname, c.relname`,
    [schemas, role],
  );
  const relations = rows
    .filter((row) => row.columns !== null && row.columns.length > 0)
    .map((row) => ({
      schema: row.schema,
      name: row.name,
      isTable: row.is_table,
      columns: row.columns.map((column) => ({
        name: column.name,
        typeName: column.type_name,
        sqlType: column.sql_type,
        nullable: column.nullable,
        deterministicCollation: column.deterministic,
      })),
      primaryKey: row.primary_key ?? [],
      foreignKeys: row.foreign_keys.map((fk) => ({ columns: fk.columns, targetSchema: fk.target_schema, targetName: fk.target_name, references: fk.references })),
    }));
  const readable = new Map(relations.map((relation) => [`${relation.schema}.${relation.name}`, new Set(relation.columns.map((column) => column.name))]));
  return relations.map((relation) => {
    const own = readable.get(`${relation.schema}.${relation.name}`) as Set<string>;
    return {
      ...relation,
      primaryKey: relation.primaryKey.every((column) => own.has(column)) ? relation.primaryKey : [],
      foreignKeys: relation.foreignKeys.filter((fk) => {
        const target = readable.get(`${fk.targetSchema}.${fk.targetName}`);
        return target !== undefined && fk.columns.every((column) => own.has(column)) && fk.references.every((column) => target.has(column));
      }),
    };
  });
}
