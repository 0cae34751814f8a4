// Fresh databases for tests and benchmarks on a PostgreSQL server, dropped afterwards with the slots and origins they made.
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate, walSlotName } from '@nself/db';

/** The realtime schema's SQL: a template database is made from it once per version of these files. */
const SQL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'packages', 'db', 'sql');
const TEMPLATE_PREFIX = 'nself_template_';

export interface TestDatabase {
  /** Name of the database. */
  readonly name: string;
  /** Connection string of the fresh database. */
  readonly url: string;
  /** A pool on it, for arranging and checking state directly. */
  readonly pool: pg.Pool;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

export interface DatabaseOptions {
  /** Installs the realtime schema. */
  readonly migrated?: boolean;
  /** Size of the pool on the database. @default 5 */
  readonly poolSize?: number;
  /** Start of the database's name, before random hex. @default nself_test */
  readonly prefix?: string;
}

/** The PostgreSQL server the suite runs against (set by scripts/run-tests.mjs). */
export function adminUrl(): string {
  const url = process.env.NSELF_TEST_ADMIN_URL;
  if (!url) throw new Error('NSELF_TEST_ADMIN_URL is not set: run the tests with `npm test`');
  return url;
}

/** Creates an empty database on the suite's server; with `{ migrated: true }` the realtime schema is installed too. */
export function createTestDatabase(options: DatabaseOptions = {}): Promise<TestDatabase> {
  return createDatabase(adminUrl(), options);
}

/** Creates an empty database on the server of `serverUrl` (a superuser's connection string). */
export async function createDatabase(serverUrl: string, options: DatabaseOptions = {}): Promise<TestDatabase> {
  const name = `${options.prefix ?? 'nself_test'}_${randomBytes(6).toString('hex')}`;
  const template = options.migrated ? process.env.NSELF_TEST_TEMPLATE : undefined;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  let copied = false;
  try {
    if (template && serverUrl === process.env.NSELF_TEST_ADMIN_URL) {
      // A run of another checkout may have dropped the template (a different schema): then migrate as usual.
      copied = await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template)}`).then(
        () => true,
        () => false,
      );
    }
    if (!copied) await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: options.poolSize ?? 5 });
  // pool.end() resolves once its clients are asked to end, not once they have: the DROP … WITH (FORCE)
  // below may terminate one still closing, whose error the pool then re-emits.
  pool.on('error', () => undefined);
  if (options.migrated && !copied) await migrate(pool);
  return {
    name,
    url: url.toString(),
    pool,
    async drop() {
      // Asked before the pool closes; a database without the realtime schema has no slot name.
      const slot = await walSlotName(pool).catch(() => undefined);
      await pool.end();
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await dropSlots(client, name, slot);
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
        // The WAL consumer's replication origin is named after the slot (shared by the cluster).
        await client.query(`SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname LIKE 'nself\\_realtime\\_' || $1 || '%'`, [name]);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Makes (once per version of the schema's SQL files) a database with the realtime schema installed, and
 * returns its name: test databases copied from it (CREATE DATABASE … TEMPLATE) start migrated without
 * running the migrations each time. Templates of other versions are dropped where no one is copying them.
 */
export async function prepareMigratedTemplate(serverUrl: string): Promise<string> {
  const name = `${TEMPLATE_PREFIX}${sqlDigest(SQL_DIR).slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    // Runs of several checkouts may start at once: one builds, the others wait and reuse.
    await admin.query('SELECT pg_advisory_lock(hashtext($1))', ['nself realtime test template']);
    const { rows } = await admin.query<{ datname: string; datistemplate: boolean }>('SELECT datname, datistemplate FROM pg_database WHERE datname LIKE $1', [
      `${TEMPLATE_PREFIX}%`,
    ]);
    for (const row of rows) {
      if (row.datname === name && row.datistemplate) continue;
      await admin
        .query(`ALTER DATABASE ${pg.escapeIdentifier(row.datname)} IS_TEMPLATE false`)
        .then(() => admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(row.datname)}`))
        .catch(() => undefined);
    }
    if (!rows.some((row) => row.datname === name && row.datistemplate)) {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
      try {
        await migrate(pool);
      } finally {
        await pool.end();
      }
      await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} IS_TEMPLATE true ALLOW_CONNECTIONS false`);
    }
    return name;
  } finally {
    await admin.end();
  }
}

/** sha256 over the names and contents of every file under `dir`. */
function sqlDigest(dir: string): string {
  const hash = createHash('sha256');
  const visit = (folder: string): void => {
    for (const entry of readdirSync(folder).sort()) {
      const full = path.join(folder, entry);
      if (statSync(full).isDirectory()) visit(full);
      else hash.update(`${path.relative(dir, full)}\0`).update(readFileSync(full));
    }
  };
  visit(dir);
  return hash.digest('hex');
}

/**
 * Drops the replication slots of database `name` (logical slots made there, and `slot`, the name its
 * WAL path uses), ending the walsenders that read them first: a slot keeps its database from being
 * dropped, and its WAL forever.
 */
async function dropSlots(client: pg.Client, name: string, slot: string | undefined): Promise<void> {
  const ofDatabase = 'FROM pg_catalog.pg_replication_slots WHERE (database = $1 OR slot_name = $2)';
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

/** Whether table changes of this database come from the write-ahead log (a server set that path up) rather than triggers. */
export async function capturesFromWal(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ wal: boolean }>('SELECT realtime.wal_capture_active() AS wal');
  return rows[0]?.wal === true;
}
