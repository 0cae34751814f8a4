// Capture on awkward tables: large rows, quoted and long names, any key shape, TRUNCATE, DDL, unprivileged writers.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { currentPosition, parseTableName, readChanges, subscribe, type Change } from '@nself/db';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realtime } from '../helpers/cli.js';

let db: TestDatabase;
const run = (...args: string[]) => realtime(args, { databaseUrl: db.url });

before(async () => {
  db = await createTestDatabase({ migrated: true });
});
after(async () => {
  await db.drop();
});

async function changesAfter(start: number, table: string): Promise<Change[]> {
  await currentPosition(db.pool);
  return readChanges(db.pool, { after: start, tables: [parseTableName(table)] });
}

test('rows of 20 KB and 1 MB never fail the write, reach the log intact, and NOTIFY carries a pointer', async () => {
  await db.pool.query('CREATE TABLE public.documents (id serial PRIMARY KEY, body text)');
  assert.equal((await run('subscribe', 'public.documents')).code, 0);
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  const notes: string[] = [];
  listener.on('notification', (message) => notes.push(message.payload ?? ''));
  await listener.query('LISTEN "realtime:table:public.documents"');
  const start = await currentPosition(db.pool);
  const bodies = [randomBytes(10_000).toString('hex'), randomBytes(512 * 1024).toString('hex')];
  for (const body of bodies) await db.pool.query('INSERT INTO public.documents (body) VALUES ($1)', [body]);
  const changes = await changesAfter(start, 'public.documents');
  assert.deepEqual(
    changes.map((change) => (change.new?.body as string).length),
    [20_000, 1_048_576],
  );
  assert.deepEqual(
    changes.map((change) =>
      createHash('sha256')
        .update(change.new?.body as string)
        .digest('hex'),
    ),
    bodies.map((body) => createHash('sha256').update(body).digest('hex')),
  );
  const deadline = Date.now() + 5000;
  while (notes.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await listener.end();
  const pointers = notes.map((note) => JSON.parse(note));
  for (const pointer of pointers) {
    assert.equal(pointer.truncated, true);
    assert.equal(pointer.operation, 'INSERT');
    const { rows } = await db.pool.query('SELECT length(new_record->>$2) AS length FROM realtime.changes WHERE id = $1', [pointer.change_id, 'body']);
    assert.ok(rows[0].length >= 20_000, 'the pointer leads to the full row');
  }
  const cli = await run('listen', 'public.documents', '1', '--from', String(start));
  assert.equal(cli.code, 0, cli.stderr);
  const payloads = cli.stdout
    .split('\n')
    .filter((line) => line.startsWith('Payload: '))
    .map((line) => JSON.parse(line.slice(9)));
  assert.deepEqual(
    payloads.map((payload) => payload.new.body),
    bodies,
    'listen prints the full rows',
  );
});

test('quoted mixed-case schema and table with a composite key: seed-shaped names, hashed function name', async () => {
  await db.pool.query('CREATE SCHEMA "Sales"; CREATE TABLE "Sales"."Order Items" (order_id int, line int, qty int, PRIMARY KEY (order_id, line))');
  const result = await run('subscribe', '"Sales"."Order Items"');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^Subscribed to "Sales"\."Order Items"/);
  assert.match(result.stdout, /function +realtime\.notify_sales_order_items_[0-9a-f]{8}\(\)/);
  assert.match(result.stdout, /channel +realtime:table:"Sales"\."Order Items"/);
  const { rows } = await db.pool.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = '"Sales"."Order Items"'::regclass ORDER BY tgname`);
  assert.deepEqual(
    rows.map((row) => row.tgname),
    ['realtime_DELETE_Order Items', 'realtime_INSERT_Order Items', 'realtime_TRUNCATE_Order Items', 'realtime_UPDATE_Order Items'],
  );
  const start = await currentPosition(db.pool);
  await db.pool.query('INSERT INTO "Sales"."Order Items" VALUES (1, 1, 5), (1, 2, 7); UPDATE "Sales"."Order Items" SET qty = 6 WHERE line = 1');
  const changes = await changesAfter(start, '"Sales"."Order Items"');
  assert.deepEqual(
    changes.map((change) => [change.operation, change.schema, change.table, change.new?.qty]),
    [
      ['INSERT', 'Sales', 'Order Items', 5],
      ['INSERT', 'Sales', 'Order Items', 7],
      ['UPDATE', 'Sales', 'Order Items', 6],
    ],
  );
});

test('tables without a primary key, with 63-character names, and with colliding seed names all capture', async () => {
  const long = 't'.repeat(63);
  await db.pool.query(`CREATE TABLE public.logbook (line text); CREATE TABLE public.${long} (v int);
    CREATE SCHEMA a_b; CREATE TABLE a_b.c (v int); CREATE SCHEMA a; CREATE TABLE a.b_c (v int);`);
  for (const table of ['public.logbook', `public.${long}`, 'a_b.c', 'a.b_c']) {
    const result = await run('subscribe', table);
    assert.equal(result.code, 0, `${table}: ${result.stderr}`);
  }
  const functions = await db.pool.query(`SELECT function_name FROM realtime.subscriptions WHERE table_name IN ('a_b.c', 'a.b_c') ORDER BY table_name`);
  assert.equal(new Set(functions.rows.map((row) => row.function_name)).size, 2, 'a_b.c and a.b_c get different functions');
  const start = await currentPosition(db.pool);
  await db.pool.query(`INSERT INTO public.logbook VALUES ('one'); UPDATE public.logbook SET line = 'two'; DELETE FROM public.logbook;
    INSERT INTO public.${long} VALUES (1); INSERT INTO a_b.c VALUES (2); INSERT INTO a.b_c VALUES (3);`);
  await currentPosition(db.pool);
  const changes = await readChanges(db.pool, { after: start });
  assert.deepEqual(
    changes.map((change) => [change.schema, change.table, change.operation]),
    [
      ['public', 'logbook', 'INSERT'],
      ['public', 'logbook', 'UPDATE'],
      ['public', 'logbook', 'DELETE'],
      ['public', long, 'INSERT'],
      ['a_b', 'c', 'INSERT'],
      ['a', 'b_c', 'INSERT'],
    ],
  );
  assert.deepEqual(changes[1]?.old, { line: 'one' });
});

test('TRUNCATE is announced as its own operation', async () => {
  const start = await currentPosition(db.pool);
  await db.pool.query('TRUNCATE public.documents');
  const changes = await changesAfter(start, 'public.documents');
  assert.deepEqual(
    changes.map((change) => [change.operation, change.new, change.old]),
    [['TRUNCATE', null, null]],
  );
});

test('altering a subscribed table keeps writes working and changes carry the new shape', async () => {
  await db.pool.query('ALTER TABLE public.logbook ADD COLUMN author text; ALTER TABLE public.logbook RENAME COLUMN line TO text');
  const start = await currentPosition(db.pool);
  await db.pool.query("INSERT INTO public.logbook (text, author) VALUES ('hi', 'ann')");
  await db.pool.query('ALTER TABLE public.logbook DROP COLUMN author');
  await db.pool.query("INSERT INTO public.logbook (text) VALUES ('bye')");
  const changes = await changesAfter(start, 'public.logbook');
  assert.deepEqual(
    changes.map((change) => change.new),
    [{ text: 'hi', author: 'ann' }, { text: 'bye' }],
  );
});

test('dropping a subscribed table breaks nothing and subscriptions says "table missing"; a lost trigger is shown and repaired', async () => {
  await db.pool.query('DROP TABLE a_b.c');
  await db.pool.query('DROP TRIGGER "realtime_INSERT_b_c" ON a.b_c');
  await db.pool.query('INSERT INTO public.logbook (text) VALUES ($1)', ['still writable']);
  const listing = await run('subscriptions', '--json');
  const states = Object.fromEntries((JSON.parse(listing.stdout) as { table: string; state: string }[]).map((row) => [row.table, row.state]));
  assert.equal(states['a_b.c'], 'table missing');
  assert.equal(states['a.b_c'], 'triggers missing: INSERT');
  assert.equal(states['public.logbook'], 'active');
  const repaired = await run('subscribe', 'a.b_c');
  assert.equal(repaired.code, 0, repaired.stderr);
  assert.match(repaired.stdout, /^Updated the subscription of a\.b_c/);
  const removed = await run('unsubscribe', 'a_b.c');
  assert.equal(removed.code, 0, removed.stderr);
  const after = await run('subscriptions', '--json');
  const tables = JSON.parse(after.stdout) as { table: string; state: string }[];
  assert.ok(!tables.some((row) => row.table === 'a_b.c'));
  assert.equal(tables.find((row) => row.table === 'a.b_c')?.state, 'active');
});

test('an application role with no rights on the realtime schema can still write a subscribed table', async () => {
  const role = `capture_app_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  try {
    await db.pool.query(`CREATE TABLE public.notes (id serial PRIMARY KEY, body text);
      GRANT USAGE ON SCHEMA public TO ${role}; GRANT INSERT, SELECT ON public.notes TO ${role}; GRANT USAGE ON SEQUENCE public.notes_id_seq TO ${role}`);
    await subscribe(db.pool, { table: parseTableName('public.notes') });
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    const app = new pg.Client({ connectionString: url.toString() });
    await app.connect();
    const start = await currentPosition(db.pool);
    try {
      const denied = await app.query('SELECT count(*) FROM realtime.changes').then(
        () => 'allowed',
        (error: Error) => error.message,
      );
      assert.match(denied, /permission denied for table changes/);
      await app.query("INSERT INTO public.notes (body) VALUES ('from the app')");
    } finally {
      await app.end();
    }
    const changes = await changesAfter(start, 'public.notes');
    assert.deepEqual(
      changes.map((change) => change.new?.body),
      ['from the app'],
    );
  } finally {
    await db.pool.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
  }
});
