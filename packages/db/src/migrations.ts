// Applies the versioned SQL migrations of the realtime schema and records each in the database.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export interface MigrationResult {
  /** Version before and after. 0 means the schema did not exist. */
  readonly fromVersion: number;
  readonly toVersion: number;
  readonly applied: readonly Migration[];
  /** Objects of the realtime schema that did not exist before, as `kind name`. */
  readonly created: readonly string[];
}

const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'migrations');
const LOCK_KEY = 'nself_realtime_migrations';

/** Reads the migration files (`NNNN_name.sql`) in version order. */
export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 4)),
      name: file.replace(/\.sql$/, ''),
      sql: await readFile(path.join(dir, file), 'utf8'),
    })),
  );
}

/** The newest migration version this build knows. */
export async function latestVersion(): Promise<number> {
  const migrations = await loadMigrations();
  return migrations.at(-1)?.version ?? 0;
}

/** The schema version recorded in the database, 0 when the realtime schema is not installed. */
export async function currentVersion(db: pg.Pool | pg.PoolClient): Promise<number> {
  const { rows } = await db.query<{ exists: boolean }>(
    "SELECT to_regclass('realtime.schema_migrations') IS NOT NULL AS exists",
  );
  if (!rows[0]?.exists) return 0;
  const result = await db.query<{ version: number | null }>('SELECT max(version) AS version FROM realtime.schema_migrations');
  return Number(result.rows[0]?.version ?? 0);
}

/**
 * Brings the realtime schema up to `targetVersion` (default: the newest), one transaction per
 * migration, under an advisory lock so that concurrent starts apply each migration once.
 */
export async function migrate(pool: pg.Pool, targetVersion?: number): Promise<MigrationResult> {
  const migrations = await loadMigrations();
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [LOCK_KEY]);
    const before = await listObjects(client);
    const fromVersion = await currentVersion(client);
    const target = targetVersion ?? migrations.at(-1)?.version ?? 0;
    const pending = migrations.filter((m) => m.version > fromVersion && m.version <= target);
    for (const migration of pending) {
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL client_min_messages = warning`);
        await client.query(`
          CREATE SCHEMA IF NOT EXISTS realtime;
          REVOKE ALL ON SCHEMA realtime FROM PUBLIC;
          CREATE TABLE IF NOT EXISTS realtime.schema_migrations (
            version integer PRIMARY KEY,
            name text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
          );`);
        await client.query(migration.sql);
        await client.query('REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA realtime FROM PUBLIC');
        await client.query('INSERT INTO realtime.schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${migration.name} failed: ${(error as Error).message}`);
      }
    }
    const after = await listObjects(client);
    return {
      fromVersion,
      toVersion: await currentVersion(client),
      applied: pending,
      created: after.filter((name) => !before.includes(name)),
    };
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}

async function listObjects(client: pg.PoolClient): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(`
    SELECT 'schema realtime' AS name FROM pg_namespace WHERE nspname = 'realtime'
    UNION ALL
    SELECT 'table realtime.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'realtime' AND c.relkind IN ('r', 'p', 'v')
    UNION ALL
    SELECT DISTINCT 'function realtime.' || p.proname || '()' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'realtime'
    ORDER BY 1`);
  return rows.map((row) => row.name);
}
