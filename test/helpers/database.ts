// Gives each test file its own fresh database on the suite's PostgreSQL (embedded or DATABASE_URL).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '@nself/db';

export interface TestDatabase {
  /** Connection string of the fresh database. */
  readonly url: string;
  /** A pool on it, for arranging and checking state directly. */
  readonly pool: pg.Pool;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/** The PostgreSQL server the suite runs against (set by scripts/run-tests.mjs). */
export function adminUrl(): string {
  const url = process.env.NSELF_TEST_ADMIN_URL;
  if (!url) throw new Error('NSELF_TEST_ADMIN_URL is not set: run the tests with `npm test`');
  return url;
}

/** Creates an empty database; with `{ migrated: true }` the realtime schema is installed too. */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const name = `nself_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 5 });
  // pool.end() resolves once its clients are asked to end, not once they have: the DROP … WITH (FORCE)
  // below may terminate one still closing, whose error the pool then re-emits.
  pool.on('error', () => undefined);
  if (options.migrated) await migrate(pool);
  return {
    url: url.toString(),
    pool,
    async drop() {
      await pool.end();
      const client = new pg.Client({ connectionString: adminUrl() });
      await client.connect();
      try {
        // A replication slot keeps its database from being dropped (and its WAL forever).
        await client.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL', [name]);
        await client.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, [name])
          .catch(async () => {
            await new Promise((resolve) => setTimeout(resolve, 500));
            await client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1', [name]);
          });
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        // The WAL consumer's replication origin is named after the slot (shared by the cluster).
        await client.query(`SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname LIKE 'nself\\_realtime\\_' || $1 || '%'`, [name]);
      } finally {
        await client.end();
      }
    },
  };
}

/** Whether table changes of this database come from the write-ahead log (a server set that path up) rather than triggers. */
export async function capturesFromWal(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ wal: boolean }>('SELECT realtime.wal_capture_active() AS wal');
  return rows[0]?.wal === true;
}
