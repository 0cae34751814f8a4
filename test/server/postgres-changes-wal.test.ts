// postgres_changes from the write-ahead log: no triggers or DDL, commit times, late tables, partitions, a consumer killed, a slot dropped.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { RunningServer } from '@nself/server';
import type { TestDatabase } from '../helpers/database.js';
import { watchChanges, type Change } from './postgres-changes-support.js';
import { supabase } from './support.js';
import { freePort, startServerProcess } from '../helpers/server-process.js';
import { createTestDatabase } from '../helpers/database.js';
import { startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

let db: TestDatabase;
let server: RunningServer;
let walLevel = '';

before(async () => {
  db = await createTestDatabase({ migrated: true });
  walLevel = (await db.pool.query<{ wal_level: string }>('SHOW wal_level')).rows[0]!.wal_level;
  if (walLevel !== 'logical') return;
  await db.pool.query(`
    CREATE TABLE todos (id serial PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false);
    CREATE TABLE stream (id int PRIMARY KEY, body text);
  `);
  server = await startTestServer(db);
});
after(async () => {
  await server?.close();
  await db?.drop();
});

function rowsOf(changes: readonly Change[]): Array<Record<string, unknown>> {
  return changes.map((change) => (change.eventType === 'DELETE' ? change.old : change.new));
}

test('a join on the WAL path installs no trigger and changes no application table; every operation arrives', async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  const client = supabase(server);
  try {
    const watched = await watchChanges(client, 'todos', [{ event: '*', schema: 'public', table: 'todos' }]);
    const { rows } = await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM pg_trigger WHERE tgrelid = 'public.todos'::regclass`);
    assert.equal(rows[0]!.n, '0', 'no trigger on the application table');
    await db.pool.query(`INSERT INTO todos (title) VALUES ('write tests')`);
    await db.pool.query(`UPDATE todos SET done = true`);
    await db.pool.query(`DELETE FROM todos`);
    await waitFor(() => watched.changes.length >= 3 || undefined, 'three changes');
    assert.deepEqual(
      watched.changes.map((change) => change.eventType),
      ['INSERT', 'UPDATE', 'DELETE'],
    );
    assert.deepEqual(watched.changes[1]!.new, { id: 1, title: 'write tests', done: true });
    assert.deepEqual(watched.changes[2]!.old, { id: 1 });
  } finally {
    await client.removeAllChannels();
  }
});

test("commit_timestamp is the transaction's commit time", async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  const client = supabase(server);
  const writer = await db.pool.connect();
  try {
    const watched = await watchChanges(client, 'slow', [{ event: 'INSERT', schema: 'public', table: 'todos' }]);
    await writer.query('BEGIN');
    await writer.query(`INSERT INTO todos (title) VALUES ('slow')`);
    await writer.query('SELECT pg_sleep(2)');
    const committing = Date.now();
    await writer.query('COMMIT');
    await waitFor(() => watched.changes[0], 'the slow insert');
    const committed = Date.parse(watched.changes[0]!.commit_timestamp);
    assert.ok(committed >= committing - 50 && committed <= Date.now(), `commit_timestamp ${watched.changes[0]!.commit_timestamp} is the commit time`);
  } finally {
    writer.release();
    await client.removeAllChannels();
  }
});

test('a schema-wide join receives a table created after it, and a partition arrives under its parent', async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  await db.pool.query('CREATE SCHEMA shop');
  const client = supabase(server);
  try {
    const watched = await watchChanges(client, 'shop', [{ event: '*', schema: 'shop' }]);
    await db.pool.query(`
      CREATE TABLE shop.orders (id int PRIMARY KEY, total int);
      CREATE TABLE shop.sales (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
      CREATE TABLE shop.sales_eu PARTITION OF shop.sales FOR VALUES IN ('eu');`);
    await db.pool.query('INSERT INTO shop.orders VALUES (1, 10)');
    await db.pool.query(`INSERT INTO shop.sales VALUES (7, 'eu')`);
    await waitFor(() => watched.changes.length >= 2 || undefined, 'changes of the new tables');
    assert.deepEqual(
      watched.changes.map((change) => `${change.schema}.${change.table}`),
      ['shop.orders', 'shop.sales'],
    );
    assert.deepEqual(rowsOf(watched.changes), [
      { id: 1, total: 10 },
      { id: 7, region: 'eu' },
    ]);
  } finally {
    await client.removeAllChannels();
  }
});

test('SIGKILL of the process reading the WAL: another server takes over within seconds, nothing lost or repeated', async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  const readerPid = async (): Promise<number | null> => {
    const { rows } = await db.pool.query<{ pid: number | null }>('SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = realtime.wal_slot_name()');
    return rows[0]?.pid ?? null;
  };
  // A child process reads the slot: it started while no other server ran. This process serves the subscriber.
  await server.close();
  const reader = await startServerProcess(db.url, await freePort());
  await waitFor(() => reader.output().includes('reads table changes from the write-ahead log') || undefined, 'the child reads the slot', 20_000);
  server = await startTestServer(db);
  const client = supabase(server);
  try {
    const watched = await watchChanges(client, 'stream', [{ event: 'INSERT', schema: 'public', table: 'stream' }]);
    const before = await readerPid();
    const writer = new pg.Client({ connectionString: db.url });
    await writer.connect();
    let killedAt = 0;
    for (let id = 1; id <= 1000; id += 1) {
      await writer.query('INSERT INTO stream (id, body) VALUES ($1, $2)', [id, 'x'.repeat(100)]);
      if (id === 300) {
        killedAt = Date.now();
        await reader.stop('SIGKILL');
      }
    }
    await writer.end();
    await waitFor(() => watched.changes.length >= 1000 || undefined, 'all 1,000 rows', 30_000);
    const tookOver = Date.now() - killedAt;
    const after = await readerPid();
    assert.ok(after !== null && after !== before, 'this process reads the slot now');
    assert.ok(tookOver < 10_000, `taken over and caught up within ${tookOver} ms`);
    assert.deepEqual(
      rowsOf(watched.changes).map((row) => row.id),
      Array.from({ length: 1000 }, (_, i) => i + 1),
      'each row once, in commit order',
    );
  } finally {
    await client.removeAllChannels();
    await reader.stop('SIGKILL');
  }
});
