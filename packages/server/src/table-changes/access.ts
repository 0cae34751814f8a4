// Per-subscriber access to captured rows: the columns a role may select, and which rows its row-level security lets it see.
import { escapeIdentifier } from 'pg';
import type { Pool, PoolClient } from '@nself/db';
import type { Audience } from './audience.js';
import type { TableInfo } from './catalog.js';

/** A subscriber cannot read a table at all; the message says why and what to do. */
export class AccessError extends Error {
  override readonly name = 'AccessError';
}

const FRESH_FOR_MS = 5_000;

/** Answers privilege and row-level security questions for audiences, keeping column privileges for a few seconds. */
export class AccessChecker {
  private readonly columns = new Map<string, { names: ReadonlySet<string>; readAt: number }>();

  constructor(private readonly pool: Pool) {}

  /** Columns of `table` the audience may select (none when it has no USAGE on the schema). */
  async readableColumns(audience: Audience, table: TableInfo): Promise<ReadonlySet<string>> {
    if (audience.service) return new Set(table.columns.map((column) => column.name));
    const key = `${audience.role}\u0000${table.oid}`;
    const cached = this.columns.get(key);
    if (cached && Date.now() - cached.readAt < FRESH_FOR_MS) return cached.names;
    let rows: { name: string }[];
    try {
      ({ rows } = await this.pool.query<{ name: string }>(
        `SELECT a.attname AS name FROM pg_attribute a
          WHERE a.attrelid = $2 AND a.attnum > 0 AND NOT a.attisdropped
            AND has_schema_privilege($1, $3::text, 'USAGE') AND has_column_privilege($1, a.attrelid, a.attnum, 'SELECT')`,
        [audience.role, table.oid, table.schema],
      ));
    } catch (error) {
      if ((error as { code?: string }).code === '42704') {
        throw new AccessError(`the token's role "${audience.role}" does not exist in the database; create it (CREATE ROLE ${escapeIdentifier(audience.role)} NOLOGIN) and grant it SELECT on the tables it may watch`);
      }
      throw error;
    }
    const names = new Set(rows.map((row) => row.name));
    this.columns.set(key, { names, readAt: Date.now() });
    return names;
  }

  /** Throws an AccessError unless the audience may select from `table` and the server may act as its role. */
  async assertCanRead(audience: Audience, table: TableInfo): Promise<void> {
    if (audience.service) return;
    const readable = await this.readableColumns(audience, table);
    if (readable.size === 0) {
      throw new AccessError(`role "${audience.role}" may not SELECT from ${table.schema}.${table.table}`);
    }
    if (table.rowSecurity) await this.asRole(audience, async () => undefined);
  }

  /**
   * Which of `records` (rows captured from INSERT or UPDATE) the audience may see under the table's
   * row-level security: each is looked up by primary key as that role, with the token's claims set,
   * in one query. Returns the indexes of the visible records.
   */
  async visibleRecords(audience: Audience, table: TableInfo, records: readonly Record<string, unknown>[]): Promise<Set<number>> {
    if (records.length === 0) return new Set();
    const keyMatch = table.primaryKey
      .map((column) => `t.${escapeIdentifier(column)} = (jsonb_populate_record(NULL::${table.sqlName}, u.doc)).${escapeIdentifier(column)}`)
      .join(' AND ');
    const rows = await this.asRole(audience, async (client) => (await client.query<{ idx: number }>(
      `SELECT (u.idx - 1)::int AS idx FROM unnest($1::jsonb[]) WITH ORDINALITY AS u(doc, idx)
        WHERE EXISTS (SELECT 1 FROM ${table.sqlName} AS t WHERE ${keyMatch})`,
      [records.map((record) => JSON.stringify(record))],
    )).rows);
    return new Set(rows.map((row) => row.idx));
  }

  /** Runs `work` in a read-only transaction as the audience's role, with its claims set as PostgREST sets them. */
  private async asRole<T>(audience: Audience, work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN READ ONLY');
      try {
        await client.query(
          `SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
                  set_config('request.jwt.claim.sub', $3, true), set_config('request.jwt.claim.role', $1, true)`,
          [audience.role, JSON.stringify(audience.claims), audience.userId ?? ''],
        );
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === '22023' || code === '42704') throw new AccessError(`the token's role "${audience.role}" does not exist in the database`);
        if (code === '42501') throw new AccessError(`the server's database user may not act as role "${audience.role}"; GRANT ${escapeIdentifier(audience.role)} TO the server's user`);
        throw error;
      }
      return await work(client);
    } finally {
      let broken: Error | undefined;
      await client.query('ROLLBACK').catch((error: unknown) => { broken = error instanceof Error ? error : new Error(String(error)); });
      client.release(broken);
    }
  }
}
