// A fresh database for one benchmark run, on DATABASE_URL's server or on an embedded PostgreSQL kept under .nself/bench.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { describeDatabase, ensureEmbeddedPostgres, migrate } from '@nself/db';
import { repositoryRoot } from './paths.js';

/** A database created for one run. */
export interface BenchDatabase {
  readonly url: string;
  readonly pool: pg.Pool;
  /** Which server it lives on, without the password. */
  readonly server: string;
  /** Whether it is the embedded PostgreSQL started for benchmarks. */
  readonly embedded: boolean;
  /** The server's major version, e.g. "17". */
  readonly version: string;
  drop(): Promise<void>;
}

/** The PostgreSQL to create benchmark databases on: DATABASE_URL, else the embedded one. */
async function serverUrl(): Promise<{ url: string; embedded: boolean }> {
  const configured = process.env.DATABASE_URL?.trim();
  if (configured) return { url: configured, embedded: false };
  const instance = await ensureEmbeddedPostgres(path.join(repositoryRoot, '.nself', 'bench'));
  return { url: instance.url, embedded: true };
}

/** Creates a fresh database with the realtime schema installed and a pool of `poolSize` on it. */
export async function createBenchDatabase(poolSize = 10): Promise<BenchDatabase> {
  const { url: adminUrl, embedded } = await serverUrl();
  const name = `nself_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  let version: string;
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    version = String((await admin.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]?.v ?? '').slice(0, 2);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: poolSize });
  await migrate(pool);
  return {
    url: url.toString(), pool, server: describeDatabase(adminUrl), embedded, version,
    async drop() {
      await pool.end();
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
