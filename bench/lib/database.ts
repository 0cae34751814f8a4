// A fresh database for one benchmark run, on DATABASE_URL's server or on an embedded PostgreSQL kept under .nself/bench; dropped with its replication slots.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { describeDatabase, ensureEmbeddedPostgres, migrate, walSlotName } from '@nself/db';
import { repositoryRoot } from './paths.js';

/** A database created for one run. */
export interface BenchDatabase {
  readonly name: string;
  readonly url: string;
  readonly pool: pg.Pool;
  /** Which server it lives on, without the password. */
  readonly server: string;
  /** Whether it is the embedded PostgreSQL started for benchmarks. */
  readonly embedded: boolean;
  /** The server's major version, e.g. "17". */
  readonly version: string;
  /** Drops the database and its replication slots (a server on the WAL path makes one; a slot keeps the database from being dropped). */
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
  // pool.end() resolves before its clients have closed: the DROP … WITH (FORCE) may end one still closing.
  pool.on('error', () => undefined);
  await migrate(pool);
  return {
    name, url: url.toString(), pool, server: describeDatabase(adminUrl), embedded, version,
    async drop() {
      const slot = await walSlotName(pool).catch(() => undefined);
      await pool.end();
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await dropSlots(client, name, slot);
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Drops the replication slots of database `name` (logical slots made there, and `slot`, the name its
 * WAL path uses, whatever its kind), ending the walsenders that read them first.
 */
async function dropSlots(client: pg.Client, name: string, slot: string | undefined): Promise<void> {
  const ofDatabase = 'FROM pg_catalog.pg_replication_slots WHERE database = $1 OR slot_name = $2';
  for (let attempt = 1; ; attempt += 1) {
    await client.query(`SELECT pg_catalog.pg_terminate_backend(active_pid) ${ofDatabase} AND active_pid IS NOT NULL`, [name, slot ?? null]);
    try {
      await client.query(`SELECT pg_catalog.pg_drop_replication_slot(slot_name) ${ofDatabase}`, [name, slot ?? null]);
      return;
    } catch (error) {
      // A terminated walsender releases its slot a moment later ("slot ... is active").
      if (attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}
