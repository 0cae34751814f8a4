// Brings the realtime schema up to date: versioned migrations, then the function files that changed, recorded in the database.
import type pg from 'pg';
import { UserError } from './errors.js';
import { loadFunctions, loadGrants, loadMigrations, SQL_DIR, type FunctionFile, type Migration } from './schema-files.js';

export interface MigrationResult {
  /** Version before and after. 0 means the schema did not exist. */
  readonly fromVersion: number;
  readonly toVersion: number;
  readonly applied: readonly Migration[];
  /** The function files applied, as `realtime.name`: all of them after a migration, else those that changed. */
  readonly functions: readonly string[];
  /** Objects of the realtime schema that did not exist before, as `kind name`. */
  readonly created: readonly string[];
}

const LOCK_KEY = 'nself_realtime_migrations';

/** The newest migration version this build knows. */
export async function latestVersion(sqlDir = SQL_DIR): Promise<number> {
  const migrations = await loadMigrations(sqlDir);
  return migrations.at(-1)?.version ?? 0;
}

/** The schema version recorded in the database, 0 when the realtime schema is not installed. */
export async function currentVersion(db: pg.Pool | pg.PoolClient): Promise<number> {
  const { rows } = await db.query<{ exists: boolean }>("SELECT to_regclass('realtime.schema_migrations') IS NOT NULL AS exists");
  if (!rows[0]?.exists) return 0;
  const result = await db.query<{ version: number | null }>('SELECT max(version) AS version FROM realtime.schema_migrations');
  return Number(result.rows[0]?.version ?? 0);
}

/**
 * Brings the realtime schema up to date in one transaction, under an advisory lock so that concurrent
 * starts apply each change once: the pending migrations in version order, then the function files
 * (all of them after a migration, which may have changed what they use; otherwise those whose text
 * differs from the checksum recorded in realtime.schema_functions). Nothing in the schema is left
 * executable by PUBLIC but what `grants.sql` gives. `sqlDir` holds `migrations/`, `functions/` and `grants.sql`.
 */
export async function migrate(pool: pg.Pool, sqlDir = SQL_DIR): Promise<MigrationResult> {
  const [migrations, functions, grants] = await Promise.all([loadMigrations(sqlDir), loadFunctions(sqlDir), loadGrants(sqlDir)]);
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [LOCK_KEY]);
    const before = await listObjects(client);
    const fromVersion = await currentVersion(client);
    refuseUnknownHistory(fromVersion, migrations);
    const pending = migrations.filter((migration) => migration.version > fromVersion);
    const changed = pending.length > 0 ? [...functions] : await changedFunctions(client, functions);
    if (pending.length > 0 || changed.length > 0) await apply(client, { pending, changed, functions, grants });
    const after = await listObjects(client);
    return {
      fromVersion,
      toVersion: await currentVersion(client),
      applied: pending,
      functions: changed.map((file) => file.name),
      created: after.filter((name) => !before.includes(name)),
    };
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}

/**
 * A schema older than this build's first migration was made by migrations this build no longer has
 * (they were combined into it): there is no way forward from there but to install the schema again.
 */
function refuseUnknownHistory(fromVersion: number, migrations: readonly Migration[]): void {
  const first = migrations[0]?.version ?? 0;
  if (fromVersion === 0 || fromVersion >= first) return;
  throw new UserError(
    `the realtime schema is at version ${fromVersion}, older than this build's first migration (${first}), which replaced ` +
      `migrations 1 to ${first}: drop the schema (DROP SCHEMA realtime CASCADE, which deletes its channels, messages and ` +
      'captured changes) and run `nself realtime init` again',
  );
}

/** The schema and the runner's own record of what it applied. */
async function createBookkeeping(client: pg.PoolClient): Promise<void> {
  await client.query(`
    CREATE SCHEMA IF NOT EXISTS realtime;
    REVOKE ALL ON SCHEMA realtime FROM PUBLIC;
    CREATE TABLE IF NOT EXISTS realtime.schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE IF NOT EXISTS realtime.schema_functions (
      name text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    );`);
}

/** The function files whose text differs from what realtime.schema_functions recorded (all of them where it does not exist). */
async function changedFunctions(client: pg.PoolClient, functions: readonly FunctionFile[]): Promise<FunctionFile[]> {
  const {
    rows: [bookkeeping],
  } = await client.query<{ exists: boolean }>("SELECT to_regclass('realtime.schema_functions') IS NOT NULL AS exists");
  if (!bookkeeping?.exists) return [...functions];
  const { rows } = await client.query<{ name: string; checksum: string }>('SELECT name, checksum FROM realtime.schema_functions');
  const recorded = new Map(rows.map((row) => [row.name, row.checksum]));
  return functions.filter((file) => recorded.get(file.name) !== file.checksum);
}

/** What one run applies: the pending migrations, the changed function files (of all of them), and the grants. */
interface Changes {
  readonly pending: readonly Migration[];
  readonly changed: readonly FunctionFile[];
  readonly functions: readonly FunctionFile[];
  readonly grants: string;
}

/** One transaction: the migrations, then the function files, each recorded; nothing left executable by PUBLIC but what the grants give. */
async function apply(client: pg.PoolClient, { pending, changed, functions, grants }: Changes): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SET LOCAL client_min_messages = warning');
    await createBookkeeping(client);
    for (const migration of pending) {
      await run(client, migration.sql, `migration ${migration.name}`);
      await client.query('INSERT INTO realtime.schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
    }
    for (const file of changed) {
      await run(client, file.sql, `function file ${file.name}.sql`);
      await client.query(
        `INSERT INTO realtime.schema_functions (name, checksum) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()`,
        [file.name, file.checksum],
      );
    }
    await client.query('DELETE FROM realtime.schema_functions WHERE NOT name = ANY ($1)', [functions.map((file) => file.name)]);
    await client.query('REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA realtime FROM PUBLIC');
    await run(client, grants, 'grants.sql');
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

/** Runs one file's SQL; a failure names the file, and how to change a function's signature when that is what failed. */
async function run(client: pg.PoolClient, sql: string, source: string): Promise<void> {
  try {
    await client.query(sql);
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    // 42P13: CREATE OR REPLACE cannot change a function's return type, parameter names or defaults.
    const hint = code === '42P13' ? ' (a changed signature needs a migration that drops the old function first: packages/db/sql/README.md)' : '';
    // eslint-disable-next-line preserve-caught-error -- the message carries PostgreSQL's; a cause would repeat it in the logged message
    throw new Error(`${source} failed: ${message}${hint}`);
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
