// Per-subscriber access to captured rows: the columns a role may select, and which rows its row-level security lets it see.
import { escapeIdentifier } from 'pg';
import { stringifyExact, type Pool, type PoolClient, type TableDescription } from '@nself/db';
import { PromiseCache } from '../promise-cache.js';
import { Refusal } from '../refusal.js';
import type { Audience } from './audience.js';
import { rowPolicy, type RowPolicy } from './policies.js';

/** The columns and rows a role may read of one table. */
export interface RoleAccess {
  readonly shown: ReadonlySet<string>;
  readonly policy: RowPolicy;
}

/** Most (role, table) answers kept for reuse; the oldest is dropped beyond that. */
const KEPT_ANSWERS = 1_000;

/**
 * Answers privilege and row-level security questions for audiences. `roleAccess` answers as of the
 * snapshot that read the changes at hand: it reuses an answer while the table's access version (read
 * in that snapshot) is the one the answer was given under, so a REVOKE committed before a change is
 * applied to that change.
 */
export class AccessChecker {
  private readonly answers = new PromiseCache<{ readonly version: string; readonly table: TableDescription; readonly access: Promise<RoleAccess> }>(KEPT_ANSWERS);

  constructor(private readonly pool: Pool) {}

  /** Columns of `table` the audience may select (none when it has no USAGE on the schema). */
  async readableColumns(audience: Audience, table: TableDescription): Promise<ReadonlySet<string>> {
    if (audience.service) return new Set(table.columns.map((column) => column.name));
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
        throw new Refusal(
          'TableAccessDenied',
          `the token's role "${audience.role}" does not exist in the database; create it (CREATE ROLE ${escapeIdentifier(audience.role)} NOLOGIN) and grant it SELECT on the tables it may watch`,
        );
      }
      throw error;
    }
    return new Set(rows.map((row) => row.name));
  }

  /** Throws a TableAccessDenied Refusal unless the audience may select from `table` and the server may act as its role. */
  async assertCanRead(audience: Audience, table: TableDescription): Promise<void> {
    if (audience.service) return;
    const readable = await this.readableColumns(audience, table);
    if (readable.size === 0) {
      throw new Refusal('TableAccessDenied', `role "${audience.role}" may not SELECT from ${table.schema}.${table.table}`);
    }
    await this.asRole(audience, async () => undefined);
  }

  /**
   * What a role may read of `table`: its columns and its row policy (everything for the service role).
   * With `version` (the table's access version where the changes were read), a previous answer given
   * under the same version for the same description of the table is reused; without it, the catalog
   * is asked now.
   */
  roleAccess(audience: Audience, table: TableDescription, version: string | null): Promise<RoleAccess> {
    if (version === null) return this.readRoleAccess(audience, table);
    const key = `${table.oid}\u0000${audience.service ? '' : audience.role}`;
    const known = this.answers.get(key);
    if (known?.version === version && known.table === table) return known.access;
    const access = this.readRoleAccess(audience, table);
    this.answers.remember(key, { version, table, access }, access);
    return access;
  }

  private async readRoleAccess(audience: Audience, table: TableDescription): Promise<RoleAccess> {
    if (audience.service) return { shown: await this.readableColumns(audience, table), policy: { kind: 'bypass' } };
    const [shown, policy] = await Promise.all([this.readableColumns(audience, table), rowPolicy(this.pool, audience.role, table.oid)]);
    return { shown, policy };
  }

  /**
   * Which of `records` (rows as captured from INSERT or UPDATE) the audience may see under `policy`,
   * its role's row policy for the table. The policy is evaluated over the captured values, as that
   * role and with the token's claims set, in one query for the whole batch: a row is judged as it was
   * written, even if it has changed or gone since. Returns the indexes of the visible records.
   */
  async visibleRecords(audience: Audience, table: TableDescription, policy: RowPolicy, records: readonly Record<string, unknown>[]): Promise<Set<number>> {
    if (policy.kind === 'bypass') return new Set(records.map((_, index) => index));
    if (policy.kind === 'deny' || records.length === 0) return new Set();
    const rows = await this.asRole(
      audience,
      async (client) =>
        (
          await client.query<{ idx: number }>(
            `SELECT (u.realtime_change_index - 1)::int AS idx
         FROM unnest($1::jsonb[]) WITH ORDINALITY AS u(realtime_change_row, realtime_change_index)
         CROSS JOIN LATERAL jsonb_populate_record(NULL::${table.sqlName}, u.realtime_change_row) AS ${escapeIdentifier(table.table)}
        WHERE ${policy.expression}`,
            [records.map((record) => stringifyExact(record))],
          )
        ).rows,
    );
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
        if (code === '22023' || code === '42704') throw new Refusal('TableAccessDenied', `the token's role "${audience.role}" does not exist in the database`);
        if (code === '42501')
          throw new Refusal(
            'TableAccessDenied',
            `the server's database user may not act as role "${audience.role}"; GRANT ${escapeIdentifier(audience.role)} TO the server's user`,
          );
        throw error;
      }
      return await work(client);
    } finally {
      let broken: Error | undefined;
      await client.query('ROLLBACK').catch((error: unknown) => {
        broken = error instanceof Error ? error : new Error(String(error));
      });
      client.release(broken);
    }
  }
}
