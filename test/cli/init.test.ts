// `nself realtime init`: creates the schema, is a no-op the second time, applies changed function files again.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { latestVersion } from '@nself/db';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realtime } from '../helpers/cli.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

test('init creates the six tables and the helper functions, and says so', async () => {
  const result = await realtime(['init'], { databaseUrl: db.url });
  assert.equal(result.code, 0, result.stderr);
  for (const table of ['channels', 'channel_members', 'messages', 'presence', 'subscriptions', 'connections']) {
    assert.match(result.stdout, new RegExp(`created table realtime\\.${table}\\b`));
  }
  assert.match(result.stdout, /created function realtime\.cleanup_messages\(\)/);
  const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'realtime'");
  assert.ok(rows[0].n >= 7);
});

test('init a second time changes nothing', async () => {
  const before = await db.pool.query('SELECT version, applied_at FROM realtime.schema_migrations ORDER BY version');
  const result = await realtime(['init'], { databaseUrl: db.url });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /up to date/);
  const afterRows = await db.pool.query('SELECT version, applied_at FROM realtime.schema_migrations ORDER BY version');
  assert.deepEqual(afterRows.rows, before.rows);
});

test('PUBLIC is granted only what Supabase apps call as their own roles, and realtime.messages only under row-level security', async () => {
  const { rows: functions } = await db.pool.query(`
    SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'realtime' AND has_function_privilege('public', p.oid, 'EXECUTE') ORDER BY p.proname`);
  assert.deepEqual(
    functions.map((row) => row.proname),
    ['broadcast_changes', 'request_user_id', 'send', 'topic'],
  );
  const { rows: tables } = await db.pool.query(`
    SELECT c.relname, has_table_privilege('public', c.oid, 'SELECT') AS can_select, has_table_privilege('public', c.oid, 'INSERT') AS can_insert,
           has_table_privilege('public', c.oid, 'UPDATE') OR has_table_privilege('public', c.oid, 'DELETE') AS can_change, c.relrowsecurity AS rls
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'realtime' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
       AND (has_table_privilege('public', c.oid, 'SELECT') OR has_table_privilege('public', c.oid, 'INSERT')
         OR has_table_privilege('public', c.oid, 'UPDATE') OR has_table_privilege('public', c.oid, 'DELETE'))`);
  assert.deepEqual(tables, [{ relname: 'messages', can_select: true, can_insert: true, can_change: false, rls: true }]);
  // A role of the app's, with no policy written: it sees no stored message and may insert none.
  const client = await db.pool.connect();
  try {
    await client.query("SELECT realtime.send('{\"n\": 1}'::jsonb, 'note', 'grants-check', false)");
    const {
      rows: [channel],
    } = await client.query("SELECT id FROM realtime.channels WHERE slug = 'grants-check'");
    await client.query('BEGIN');
    await client.query('CREATE ROLE grants_check_app NOLOGIN; SET LOCAL ROLE grants_check_app');
    const { rows } = await client.query('SELECT count(*)::int AS n FROM realtime.messages');
    assert.deepEqual(rows, [{ n: 0 }]);
    await assert.rejects(
      client.query("INSERT INTO realtime.messages (channel_id, channel_offset, event_type, payload) VALUES ($1, 99, 'x', '{}')", [channel.id]),
      /new row violates row-level security policy for table "messages"/,
    );
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
});

test('init after a function file changed applies that file again, and says so', async () => {
  // As a database migrated by a build whose realtime.max_payload_bytes() said otherwise.
  await db.pool.query(`CREATE OR REPLACE FUNCTION realtime.max_payload_bytes() RETURNS integer LANGUAGE sql STABLE AS 'SELECT 1';
    UPDATE realtime.schema_functions SET checksum = 'the older text' WHERE name = 'realtime.max_payload_bytes'`);
  const result = await realtime(['init'], { databaseUrl: db.url });
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    new RegExp(`^Updated the realtime schema's functions \\(version ${await latestVersion()}\\)\\.\n  applied functions/realtime\\.max_payload_bytes\\.sql\n`),
  );
  const { rows } = await db.pool.query('SELECT realtime.max_payload_bytes() AS bytes');
  assert.deepEqual(rows, [{ bytes: 262144 }]);
});

test('a schema older than the first migration is refused, naming the way out', async () => {
  const old = await createTestDatabase();
  try {
    await old.pool.query(`CREATE SCHEMA realtime;
      CREATE TABLE realtime.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO realtime.schema_migrations (version, name) VALUES (12, '0012_notify_positions')`);
    const result = await realtime(['init'], { databaseUrl: old.url });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^error: the realtime schema is at version 12, older than this build's first migration \(18\), which replaced migrations 1 to 18: drop the schema \(DROP SCHEMA realtime CASCADE, .*\) and run `nself realtime init` again\n$/,
    );
  } finally {
    await old.drop();
  }
});

test('an unreachable database is named, without its password', async () => {
  const result = await realtime(['init'], { databaseUrl: 'postgres://someone:hunter2@127.0.0.1:1/appdb' });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^error: cannot connect to PostgreSQL at 127\.0\.0\.1:1, database "appdb"/);
  assert.doesNotMatch(result.stderr, /hunter2/);
  assert.equal(result.stderr.trim().split('\n').length, 1);
});

test(
  'run by root, an embedded PostgreSQL under a private directory is refused, naming the directory and the ways out',
  { skip: userInfo().uid !== 0 && 'only root starts the embedded PostgreSQL as another user' },
  async () => {
    const privateDir = await mkdtemp(path.join(tmpdir(), 'nself-private-')); // mode 700, as root's home
    try {
      const stateDir = path.join(privateDir, 'state');
      const result = await realtime(['init'], { databaseUrl: '', env: { NSELF_DATA_DIR: stateDir } });
      assert.equal(result.code, 1);
      assert.equal(
        result.stderr.trim(),
        `error: the embedded PostgreSQL runs as the system user "postgres" when started by root, and it cannot enter ${privateDir} (mode 700), ` +
          `above its data directory ${path.join(stateDir, 'postgres', 'data')}. Set NSELF_DATA_DIR to a directory it can reach (for example /var/lib/nself), ` +
          `allow it in with \`chmod o+x ${privateDir}\`, run as another user, or set DATABASE_URL to your own PostgreSQL.`,
      );
      assert.equal(existsSync(path.join(stateDir, 'instance.json')), false, 'no half-made instance is left to start');
    } finally {
      await rm(privateDir, { recursive: true, force: true });
    }
  },
);
