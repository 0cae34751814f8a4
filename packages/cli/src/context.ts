// What every command needs: the database pool, opened once on first use and closed at exit.
import { currentVersion, latestVersion, openPool, resolveDatabaseUrl, UserError, type Pool } from '@nself/db';

let poolPromise: Promise<Pool> | undefined;

/** The pool for this invocation, without any schema check (for `init` and `status`). */
export function connection(): Promise<Pool> {
  poolPromise ??= (async () => openPool(await resolveDatabaseUrl(), { max: 4 }))();
  return poolPromise;
}

/** The pool for this invocation, once the realtime schema is known to be installed and current. */
export async function database(): Promise<Pool> {
  const pool = await connection();
  const [installed, latest] = await Promise.all([currentVersion(pool), latestVersion()]);
  if (installed === 0) throw new UserError('the realtime schema is not installed; run `nself realtime init` first');
  if (installed < latest) {
    throw new UserError(`the realtime schema is at version ${installed}, this build needs ${latest}; run \`nself realtime init\` to migrate it`);
  }
  return pool;
}

/** Closes the pool if one was opened. */
export async function closeDatabase(): Promise<void> {
  if (!poolPromise) return;
  const pool = await poolPromise.catch(() => undefined);
  poolPromise = undefined;
  await pool?.end();
}
