// Opens the PostgreSQL that the product uses: DATABASE_URL, or the embedded one when it is unset.
import pg from 'pg';
import { readSetting } from './config/read.js';
import { ensureEmbeddedPostgres, type EmbeddedLifetime } from './embedded.js';
import { describeDatabase } from './database-url.js';
import { UserError } from './errors.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** The connection string to use: `DATABASE_URL` when set, else the embedded PostgreSQL (started if needed, to run for `lifetime`). */
export async function resolveDatabaseUrl(env: NodeJS.ProcessEnv = process.env, lifetime: EmbeddedLifetime = 'kept'): Promise<string> {
  const configured = readSetting(env, 'DATABASE_URL');
  if (configured) return configured;
  return (await ensureEmbeddedPostgres(undefined, lifetime)).url;
}

/** Opens a pool and checks that the database answers, turning failures into one readable line. */
export async function openPool(url: string, options: pg.PoolConfig = {}): Promise<pg.Pool> {
  validateUrl(url);
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 10_000, ...options });
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new UserError(`cannot connect to PostgreSQL at ${describeDatabase(url)}: ${reasonOf(error)}`);
  }
  return pool;
}

function validateUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError('DATABASE_URL is not a valid URL; expected postgres://user:password@host:port/database');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new UserError(`DATABASE_URL has scheme "${parsed.protocol.replace(/:$/, '')}"; expected postgres:// or postgresql://`);
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return reasonOf(error.errors[0]);
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? message).replace(/password=[^\s&]+/g, 'password=***');
}
