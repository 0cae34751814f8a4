// What every command needs: the database pool, opened once on first use and closed at exit, with the embedded PostgreSQL
// running only while the command needs it unless something asked to keep it running.
import path from 'node:path';
import type { Pool } from '@nself/db';
import { findProjectStateDir, readSetting, UserError } from '@nself/db/values';

let operationsPromise: Promise<typeof import('@nself/db/data')> | undefined;
let urlPromise: Promise<string> | undefined;
let poolPromise: Promise<Pool> | undefined;

/**
 * @nself/db's data operations (the pg driver, the embedded PostgreSQL, channels, messages, presence …), loaded on
 * first use: `--help`, `--version` and commands that touch no database start without them.
 */
export function databaseOperations(): Promise<typeof import('@nself/db/data')> {
  operationsPromise ??= import('@nself/db/data');
  return operationsPromise;
}

/** All of @nself/db, with change capture, the WAL slot and notification listeners, for the commands that use them. */
export function allDatabaseOperations(): Promise<typeof import('@nself/db')> {
  return import('@nself/db');
}

/**
 * The connection string for this invocation: DATABASE_URL, else the embedded PostgreSQL, started if it is not running
 * and then stopped when the command ends (unless another process still uses it; `nself realtime db start` keeps it running).
 */
export function databaseUrl(): Promise<string> {
  urlPromise ??= (async () => {
    const { resolveDatabaseUrl } = await databaseOperations();
    announceNewEmbeddedDatabase();
    return resolveDatabaseUrl(process.env, 'while-used');
  })();
  return urlPromise;
}

/** The pool for this invocation, without any schema check (for `init` and `status`). */
export function connection(): Promise<Pool> {
  poolPromise ??= (async () => {
    const { openPool } = await databaseOperations();
    return openPool(await databaseUrl(), { max: 4 });
  })();
  return poolPromise;
}

/** The pool for this invocation, once the realtime schema is known to be installed and current. */
export async function database(): Promise<Pool> {
  const pool = await connection();
  const { currentVersion, latestVersion } = await databaseOperations();
  const [installed, latest] = await Promise.all([currentVersion(pool), latestVersion()]);
  if (installed === 0) throw new UserError('the realtime schema is not installed; run `nself realtime init` first');
  if (installed < latest) {
    throw new UserError(`the realtime schema is at version ${installed}, this build needs ${latest}; run \`nself realtime init\` to migrate it`);
  }
  return pool;
}

/**
 * Says where an embedded database is about to be made when this directory and those above it hold none,
 * so that a command run in the wrong place does not silently start an empty one.
 */
export function announceNewEmbeddedDatabase(): void {
  if (readSetting(process.env, 'DATABASE_URL') || readSetting(process.env, 'NSELF_DATA_DIR') !== undefined) return;
  if (findProjectStateDir(process.cwd())) return;
  const where = path.join(process.cwd(), '.nself');
  process.stderr.write(
    `note: no embedded database in ${process.cwd()} or above it; creating one in ${where} (run nself from your project's directory, or set DATABASE_URL to your PostgreSQL)\n`,
  );
}

/** Closes the pool if one was opened, and ends this command's use of the embedded PostgreSQL (stopping it if it started it). */
export async function closeDatabase(): Promise<void> {
  // Connections and the embedded PostgreSQL are reached only through the data operations: unloaded, nothing is open.
  if (operationsPromise === undefined) return;
  const pool = await poolPromise?.catch(() => undefined);
  poolPromise = undefined;
  urlPromise = undefined;
  await pool?.end();
  const { releaseEmbeddedPostgres } = await operationsPromise;
  await releaseEmbeddedPostgres();
}
