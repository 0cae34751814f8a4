// The change log delivers every committed change once, in commit order, to consumers that come and go.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { ChangeFeed, currentPosition, parseTableName, readChanges, subscribe, type Change } from '@nself/db';
import { assertCommitOrder } from '../helpers/change-order.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const WRITERS = 8;
const ROWS_PER_WRITER = 1000;
const table = parseTableName('public.events');
let db: TestDatabase;

before(async () => {
  db = await createTestDatabase({ migrated: true });
  await db.pool.query('CREATE TABLE public.events (id bigserial PRIMARY KEY, writer int NOT NULL, seq int NOT NULL, note text)');
  await subscribe(db.pool, { table });
});
after(async () => {
  await db.drop();
});

/** Runs `writers` connections, each committing `rows` single-row transactions in its own order. */
async function writeConcurrently(writers: number, rows: number, from = 0): Promise<void> {
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      const client = new pg.Client({ connectionString: db.url, application_name: 'capture-test-writer' });
      await client.connect();
      try {
        for (let seq = from; seq < from + rows; seq += 1) {
          await client.query('INSERT INTO public.events (writer, seq, note) VALUES ($1, $2, $3)', [writer, seq, 'x'.repeat(200)]);
        }
      } finally {
        await client.end();
      }
    }),
  );
}

test('8 concurrent writers x 1,000 rows: a reader consuming meanwhile gets all 8,000 once, in commit order', async () => {
  const received: Change[] = [];
  const feed = await ChangeFeed.start({
    pool: db.pool,
    tables: [table],
    onChanges: (batch) => {
      received.push(...batch);
    },
  });
  const start = feed.position;
  await writeConcurrently(WRITERS, ROWS_PER_WRITER);
  const target = start + WRITERS * ROWS_PER_WRITER;
  const deadline = Date.now() + 60_000;
  while (feed.position < target && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await feed.stop();
  assertCommitOrder(received, WRITERS, ROWS_PER_WRITER);
  assert.equal(received[0]!.position, start + 1);
});

test('a transaction that commits late is placed after transactions that committed before it, never before a delivered one', async () => {
  const start = await currentPosition(db.pool);
  const slow = await db.pool.connect();
  try {
    await slow.query('BEGIN');
    await slow.query("INSERT INTO public.events (writer, seq, note) VALUES (100, 0, 'early xid, late commit')");
    await db.pool.query("INSERT INTO public.events (writer, seq, note) VALUES (101, 0, 'later xid, early commit')");
    const mid = await currentPosition(db.pool);
    const seen = await readChanges(db.pool, { after: start, tables: [table] });
    assert.deepEqual(
      seen.map((change) => (change.new as { writer: number }).writer),
      [101],
      'only the committed change is visible',
    );
    assert.equal(mid, start + 1);
    await slow.query('COMMIT');
  } finally {
    slow.release();
  }
  await currentPosition(db.pool);
  const all = await readChanges(db.pool, { after: start, tables: [table] });
  assert.deepEqual(
    all.map((change) => [(change.new as { writer: number }).writer, change.position]),
    [
      [101, start + 1],
      [100, start + 2],
    ],
  );
});

test('a rolled-back change is never delivered', async () => {
  const start = await currentPosition(db.pool);
  const client = await db.pool.connect();
  await client.query('BEGIN');
  await client.query('INSERT INTO public.events (writer, seq) VALUES (200, 0)');
  await client.query('ROLLBACK');
  client.release();
  await db.pool.query('INSERT INTO public.events (writer, seq) VALUES (201, 0)');
  await currentPosition(db.pool);
  const changes = await readChanges(db.pool, { after: start, tables: [table] });
  assert.deepEqual(
    changes.map((change) => (change.new as { writer: number }).writer),
    [201],
  );
});

test('changes committed while a consumer was away arrive when it resumes from its last position, once each', async () => {
  const first: Change[] = [];
  const feed = await ChangeFeed.start({
    pool: db.pool,
    tables: [table],
    onChanges: (batch) => {
      first.push(...batch);
    },
  });
  await writeConcurrently(4, 50, 0);
  const deadline = Date.now() + 30_000;
  while (first.length < 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await feed.stop();
  const resumeAt = feed.position;
  await writeConcurrently(4, 50, 50);
  const second: Change[] = [];
  const resumed = await ChangeFeed.start({
    pool: db.pool,
    from: resumeAt,
    tables: [table],
    onChanges: (batch) => {
      second.push(...batch);
    },
  });
  while (second.length < 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await resumed.stop();
  assertCommitOrder([...first, ...second], 4, 100);
});

test('killing the feed connections (LISTEN and reads) mid-stream loses nothing and repeats nothing', async () => {
  const received: Change[] = [];
  const feedPool = new pg.Pool({ connectionString: db.url, max: 2, application_name: 'capture-test-feed' });
  feedPool.on('error', () => undefined);
  const feed = await ChangeFeed.start({
    pool: feedPool,
    tables: [table],
    onChanges: (batch) => {
      received.push(...batch);
    },
  });
  const writing = writeConcurrently(4, 300);
  let killed = 0;
  for (let kill = 0; kill < 4; kill += 1) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const { rows } = await db.pool.query(`SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'capture-test-feed'`);
    killed += rows.length;
  }
  await writing;
  assert.ok(killed >= 4, `the feed's connections were terminated (${killed})`);
  const deadline = Date.now() + 60_000;
  while (received.length < 1200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await feed.stop();
  await feedPool.end();
  assertCommitOrder(received, 4, 300);
});
