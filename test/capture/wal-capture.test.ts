// Capture from the write-ahead log: every change logged once, in commit order, with commit times, partitions, late tables and takeovers.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { currentPosition, parseTableName, readChanges, setUpCapturePath, subscribe, watchForWal, WalConsumer, type Change, type WalTrouble } from '@nself/db';
import { assertCommitOrder } from '../helpers/change-order.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
let walLevel = '';
const consumers: WalConsumer[] = [];
const errors: { message: string; trouble: WalTrouble }[] = [];

function startConsumer(): WalConsumer {
  const consumer = new WalConsumer({
    pool: db.pool,
    connection: { connectionString: db.url },
    retryMs: 200,
    onError: (error, trouble) => errors.push({ message: error.message, trouble }),
  });
  consumers.push(consumer);
  return consumer;
}

/** Writes a marker row and waits until the consumer logged it: the position after which the next changes come. */
async function settled(): Promise<number> {
  const mark = `mark-${randomBytes(6).toString('hex')}`;
  await db.pool.query('INSERT INTO public.items (name) VALUES ($1)', [mark]);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { rows } = await db.pool.query<{ position: string }>(`SELECT position FROM realtime.changes WHERE new_record->>'name' = $1 AND position IS NOT NULL`, [mark]);
    if (rows[0]) return Number(rows[0].position);
    if (Date.now() > deadline) {
      const slot = await db.pool.query(
        'SELECT active, active_pid, confirmed_flush_lsn::text, pg_current_wal_lsn()::text AS now FROM pg_replication_slots WHERE slot_name = realtime.wal_slot_name()',
      );
      const leading = consumers.map((consumer) => consumer.leading);
      throw new Error(`the consumer logged nothing for 30 s: slot ${JSON.stringify(slot.rows)}, leading ${JSON.stringify(leading)}, errors ${JSON.stringify(errors.slice(-5))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Reads the log after `from` until `count` changes of `tables` have arrived (or 30 s passed). */
async function logged(from: number, count: number, tables = ['public.items']): Promise<Change[]> {
  const names = tables.map(parseTableName);
  const deadline = Date.now() + 30_000;
  for (;;) {
    await currentPosition(db.pool);
    const changes = await readChanges(db.pool, { after: from, tables: names, limit: 100_000 });
    if (changes.length >= count || Date.now() > deadline) return changes;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

before(async () => {
  db = await createTestDatabase({ migrated: true });
  walLevel = (await db.pool.query<{ wal_level: string }>('SHOW wal_level')).rows[0]!.wal_level;
  if (walLevel !== 'logical') return;
  await db.pool.query(`CREATE TABLE public.items (id bigserial PRIMARY KEY, writer int, seq int, name text, doc jsonb, big text, at timestamptz)`);
  const path = await setUpCapturePath(db.pool);
  assert.equal(path.path, 'wal', path.reason);
  await watchForWal(db.pool, [parseTableName('public.items')], []);
  startConsumer();
});
after(async () => {
  await Promise.all(consumers.map((consumer) => consumer.stop()));
  await db.drop();
});

test('INSERT, UPDATE, DELETE and TRUNCATE are logged with rows as to_jsonb gives them and the commit time', async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  const from = await settled();
  await db.pool.query(`INSERT INTO public.items (id, name, doc, at) VALUES (1000001, 'a', '{"k":[1,2]}', '2026-01-02 03:04:05+00')`);
  await db.pool.query(`UPDATE public.items SET name = 'b' WHERE id = 1000001`);
  await db.pool.query('DELETE FROM public.items WHERE id = 1000001');
  await db.pool.query('TRUNCATE public.items');
  const changes = await logged(from, 4);
  assert.deepEqual(
    changes.map((change) => change.operation),
    ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'],
  );
  const expected = (
    await db.pool.query<{ row: Record<string, unknown> }>(
      `SELECT to_jsonb(r) AS row FROM (SELECT 1000001::bigint AS id, NULL::int AS writer, NULL::int AS seq, 'a'::text AS name, '{"k":[1,2]}'::jsonb AS doc, NULL::text AS big, '2026-01-02 03:04:05+00'::timestamptz AS at) AS r`,
    )
  ).rows[0]!.row;
  assert.deepEqual(changes[0]!.new, expected, 'the row is what to_jsonb gives, jsonb as JSON');
  assert.equal((changes[1]!.new as { name: string }).name, 'b');
  assert.deepEqual(changes[2]!.old, { id: 1000001 }, 'a DELETE under the default replica identity carries the key');
  assert.deepEqual(
    changes.map((change) => change.position),
    [from + 1, from + 2, from + 3, from + 4],
  );
});

test("a 2 s transaction's commit timestamp is its commit time, not its statement's", async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  const from = await settled();
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`INSERT INTO public.items (name) VALUES ('slow')`);
    await client.query('SELECT pg_sleep(2)');
    const before = Date.now();
    await client.query('COMMIT');
    const [change] = await logged(from, 1);
    assert.ok(change!.commitTimestamp.getTime() >= before - 50, `committed at ${change!.commitTimestamp.toISOString()}, after the sleep (${new Date(before).toISOString()})`);
  } finally {
    client.release();
  }
});

test('an UPDATE that leaves a TOASTed value unchanged still carries it with REPLICA IDENTITY FULL', async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  await db.pool.query('ALTER TABLE public.items REPLICA IDENTITY FULL');
  try {
    const big = randomBytes(20_000).toString('hex');
    const from = await settled();
    await db.pool.query(`INSERT INTO public.items (id, name, big) VALUES (1000050, 'x', $1)`, [big]);
    await db.pool.query(`UPDATE public.items SET name = 'y' WHERE id = 1000050`);
    const changes = await logged(from, 2);
    assert.equal((changes[1]!.new as { big: string }).big, big);
    assert.equal((changes[1]!.old as { name: string }).name, 'x', 'FULL gives the whole old row');
  } finally {
    await db.pool.query('ALTER TABLE public.items REPLICA IDENTITY DEFAULT');
  }
});

test('8 concurrent writers x 1,000 rows are logged once each, dense and in commit order', async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  const from = await settled();
  await Promise.all(
    Array.from({ length: 8 }, async (_, writer) => {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        for (let seq = 0; seq < 1000; seq += 1) await client.query('INSERT INTO public.items (writer, seq, name) VALUES ($1, $2, $3)', [writer, seq, 'x'.repeat(200)]);
      } finally {
        await client.end();
      }
    }),
  );
  const changes = await logged(from, 8000);
  assertCommitOrder(changes, 8, 1000);
});

test('a table created after its schema is watched is logged; a partition is logged under its parent', async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  await db.pool.query('CREATE SCHEMA shop');
  await watchForWal(db.pool, [], ['shop']);
  const from = await settled();
  await db.pool.query('CREATE TABLE shop.orders (id int PRIMARY KEY, total int)');
  await db.pool.query('CREATE TABLE shop.sales (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)');
  await db.pool.query(`CREATE TABLE shop.sales_eu PARTITION OF shop.sales FOR VALUES IN ('eu')`);
  await db.pool.query('INSERT INTO shop.orders VALUES (1, 10)');
  await db.pool.query(`INSERT INTO shop.sales VALUES (1, 'eu')`);
  const changes = await logged(from, 2, ['shop.orders', 'shop.sales']);
  assert.deepEqual(
    changes.map((change) => `${change.schema}.${change.table}`),
    ['shop.orders', 'shop.sales'],
  );
  assert.deepEqual(changes[1]!.new, { id: 1, region: 'eu' });
});

test('a writer role that owns nothing and has no rights on the realtime schema is captured', async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  const role = `nself_writer_${randomBytes(4).toString('hex')}`;
  await db.pool.query(`CREATE ROLE ${role}`);
  try {
    await db.pool.query(`GRANT INSERT ON public.items TO ${role}; GRANT USAGE ON SEQUENCE public.items_id_seq TO ${role}`);
    const from = await settled();
    const client = await db.pool.connect();
    try {
      await client.query(`SET ROLE ${role}`);
      await client.query(`INSERT INTO public.items (name) VALUES ('by a plain writer')`);
      await client.query('RESET ROLE');
    } finally {
      client.release();
    }
    const [change] = await logged(from, 1);
    assert.equal((change!.new as { name: string }).name, 'by a plain writer');
  } finally {
    await db.pool.query(`REVOKE ALL ON public.items FROM ${role}; REVOKE ALL ON SEQUENCE public.items_id_seq FROM ${role}; DROP ROLE ${role}`);
  }
});

test('a capture trigger in WAL mode only notifies: psql LISTEN gets the seed payload, the log gets the change once', async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  await subscribe(db.pool, { table: parseTableName('public.items'), notifyRows: true });
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  try {
    const payloads: string[] = [];
    listener.on('notification', (note) => payloads.push(note.payload ?? ''));
    await listener.query('LISTEN "realtime:table:public.items"');
    const from = await settled();
    await db.pool.query(`INSERT INTO public.items (id, name) VALUES (1000900, 'seed')`);
    const changes = await logged(from, 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(changes.length, 1, 'logged once, from the WAL');
    const { rows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM realtime.changes WHERE position IS NULL');
    assert.equal(rows[0]!.n, '0', 'the trigger wrote no log row');
    const payload = payloads.map((text) => JSON.parse(text) as { new?: { name?: string } } & Record<string, unknown>).find((p) => p.new?.name === 'seed');
    assert.ok(payload, `the seed payload among ${payloads.join(' ')}`);
    assert.equal(payload.operation, 'INSERT');
    assert.deepEqual(payload.new, { id: 1000900, writer: null, seq: null, name: 'seed', doc: null, big: null, at: null });
  } finally {
    await listener.end();
  }
});

test('a table registered and written at once is captured from its registration on, in WAL order; unregistered, no more', async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  await db.pool.query('CREATE TABLE public.fresh (id int PRIMARY KEY); CREATE TABLE public.same_tx (id int PRIMARY KEY)');
  const from = await settled();
  // Registered and written in one transaction, and registered then written straight after.
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await watchForWal(client, [parseTableName('public.same_tx')], []);
    await client.query('INSERT INTO public.same_tx VALUES (1)');
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  await watchForWal(db.pool, [parseTableName('public.fresh')], []);
  for (let id = 1; id <= 20; id += 1) await db.pool.query('INSERT INTO public.fresh VALUES ($1)', [id]);
  const changes = await logged(from, 21, ['public.same_tx', 'public.fresh']);
  assert.deepEqual(
    changes.map((change) => `${change.table}:${(change.new as { id: number }).id}`),
    ['same_tx:1', ...Array.from({ length: 20 }, (_, i) => `fresh:${i + 1}`)],
  );
  await db.pool.query(`DELETE FROM realtime.subscriptions WHERE table_name = 'public.fresh'`);
  await db.pool.query('INSERT INTO public.fresh VALUES (100)');
  const after = await settled();
  const more = await readChanges(db.pool, { after: from, tables: [parseTableName('public.fresh')], limit: 100 });
  assert.equal(more.length, 20, `nothing logged for a table no longer captured (log at ${after})`);
});

test('killing the consumer mid-stream: another takes over and nothing is lost or repeated', async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  startConsumer();
  const from = await settled();
  const writing = (async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    for (let seq = 0; seq < 1500; seq += 1) await client.query('INSERT INTO public.items (writer, seq) VALUES (0, $1)', [seq]);
    await client.end();
  })();
  for (let kill = 0; kill < 3; kill += 1) {
    await new Promise((resolve) => setTimeout(resolve, 400));
    await db.pool.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = realtime.wal_slot_name() AND active_pid IS NOT NULL`);
  }
  await writing;
  const changes = await logged(from, 1500);
  assertCommitOrder(changes, 1, 1500);
});

test('a slot dropped behind the consumer is made again, loudly, and the gap is recorded', async (t) => {
  if (walLevel !== 'logical') return t.skip('wal_level is not logical');
  errors.length = 0;
  const before = await settled();
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    // Terminate the reader and drop the slot before a consumer starts it again.
    for (let attempt = 0; attempt < 50; attempt += 1) {
      await admin.query(`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = realtime.wal_slot_name() AND active_pid IS NOT NULL`);
      const dropped = await admin
        .query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = realtime.wal_slot_name() AND NOT active`)
        .catch(() => ({ rowCount: 0 }));
      if (dropped.rowCount) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await admin.end();
  }
  const deadline = Date.now() + 15_000;
  while (!errors.some((error) => error.trouble !== 'interrupted') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.ok(
    errors.some((error) => error.trouble !== 'interrupted' && /dropped/.test(error.message)),
    `a loud report: ${JSON.stringify(errors)}`,
  );
  const { rows } = await db.pool.query<{ gap: string | null; reason: string | null }>('SELECT wal_gap_after AS gap, wal_gap_reason AS reason FROM realtime.capture_state');
  assert.equal(Number(rows[0]!.gap), before);
  const from = await settled();
  await db.pool.query(`INSERT INTO public.items (name) VALUES ('after the new slot')`);
  const [change] = await logged(from, 1);
  assert.equal((change!.new as { name: string }).name, 'after the new slot');
});
