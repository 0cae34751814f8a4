// A fresh database for one benchmark run, on DATABASE_URL's server or on an embedded PostgreSQL kept under .nself/bench; dropped with its replication slots.
import path from 'node:path';
import { describeDatabase, ensureEmbeddedPostgres } from '@nself/db';
import { createDatabase, type TestDatabase } from '../../test/helpers/database.js';
import { repositoryRoot } from './paths.js';

/** A database created for one run. */
export interface BenchDatabase extends TestDatabase {
  /** Which server it lives on, without the password. */
  readonly server: string;
  /** Whether it is the embedded PostgreSQL started for benchmarks. */
  readonly embedded: boolean;
  /** The server's major version, e.g. "17". */
  readonly version: string;
}

/** The PostgreSQL to create benchmark databases on: DATABASE_URL, else the embedded one. */
async function serverUrl(): Promise<{ url: string; embedded: boolean }> {
  const configured = process.env.DATABASE_URL?.trim();
  if (configured) return { url: configured, embedded: false };
  const instance = await ensureEmbeddedPostgres(path.join(repositoryRoot, '.nself', 'bench'));
  return { url: instance.url, embedded: true };
}

/**
 * Creates a fresh database with a pool of `poolSize` on it, with this checkout's realtime schema installed
 * unless `migrated` is false (a server of another build then installs its own as it starts).
 */
export async function createBenchDatabase(poolSize = 10, { migrated = true }: { migrated?: boolean } = {}): Promise<BenchDatabase> {
  const { url: adminUrl, embedded } = await serverUrl();
  const db = await createDatabase(adminUrl, { prefix: 'nself_bench', migrated, poolSize });
  const { rows } = await db.pool.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  return { ...db, server: describeDatabase(adminUrl), embedded, version: String(rows[0]?.v ?? '').slice(0, 2) };
}
