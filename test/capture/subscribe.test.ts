// `subscribe`, `unsubscribe` and `subscriptions` from the command line, against real tables and triggers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { currentPosition, readChanges, parseTableName } from '@nself/db';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realtime } from '../helpers/cli.js';

let db: TestDatabase;
const run = (...args: string[]) => realtime(args, { databaseUrl: db.url });

before(async () => {
  db = await createTestDatabase({ migrated: true });
  await db.pool.query(`
    CREATE TABLE public.users (id serial PRIMARY KEY, email text NOT NULL, created_at timestamptz DEFAULT now());
    CREATE TABLE public.posts (id serial PRIMARY KEY, title text);
    CREATE TABLE public.comments (id serial PRIMARY KEY, post_id int NOT NULL, body text, score numeric, status text);`);
});
after(async () => {
  await db.drop();
});

async function triggersOf(table: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ tgname: string }>('SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal ORDER BY tgname', [table]);
  return rows.map((row) => row.tgname);
}

/** Everything subscribe may touch: subscription rows, capture triggers and functions. */
async function captureState(): Promise<unknown> {
  const { rows } = await db.pool.query(`
    SELECT (SELECT json_agg(s ORDER BY table_name) FROM (SELECT table_name, events, filter, capture, updated_at FROM realtime.subscriptions) s) AS subscriptions,
           (SELECT json_agg(tgname ORDER BY tgname) FROM pg_trigger WHERE tgname LIKE 'realtime\\_%' AND NOT tgisinternal) AS triggers,
           (SELECT json_agg(proname ORDER BY proname) FROM pg_proc WHERE proname LIKE 'notify\\_%') AS functions`);
  return rows[0];
}

async function changesOf(table: string, after: number) {
  await currentPosition(db.pool);
  return readChanges(db.pool, { after, tables: [parseTableName(table)] });
}

test('the seed recipe: subscribe public.users creates the seed function, triggers and record', async () => {
  const result = await run('subscribe', 'public.users');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^Subscribed to public\.users: INSERT, UPDATE, DELETE, TRUNCATE/);
  assert.match(result.stdout, /function +realtime\.notify_public_users\(\)/);
  assert.match(result.stdout, /channel +realtime:table:public\.users/);
  assert.deepEqual(await triggersOf('public.users'), ['realtime_DELETE_users', 'realtime_INSERT_users', 'realtime_TRUNCATE_users', 'realtime_UPDATE_users']);
  const fn = await db.pool.query("SELECT prosecdef, proconfig FROM pg_proc WHERE proname = 'notify_public_users'");
  assert.equal(fn.rows[0].prosecdef, true);
  assert.deepEqual(fn.rows[0].proconfig, ['search_path=pg_catalog, pg_temp', 'TimeZone=UTC']);
  const { rows } = await db.pool.query("SELECT events FROM realtime.subscriptions WHERE table_name = 'public.users'");
  assert.deepEqual(rows[0].events, ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']);
});

test('subscribing again with the same settings is harmless: nothing changes', async () => {
  const before = await captureState();
  const oids = await db.pool.query("SELECT oid FROM pg_trigger WHERE tgrelid = 'public.users'::regclass ORDER BY oid");
  const result = await run('subscribe', 'public.users');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /already subscribed with these settings; nothing changed/);
  assert.deepEqual(await captureState(), before);
  const again = await db.pool.query("SELECT oid FROM pg_trigger WHERE tgrelid = 'public.users'::regclass ORDER BY oid");
  assert.deepEqual(again.rows, oids.rows);
});

test('subscribe public.posts INSERT,UPDATE creates only those triggers; other events later replace them', async () => {
  const first = await run('subscribe', 'public.posts', 'INSERT,UPDATE');
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(await triggersOf('public.posts'), ['realtime_INSERT_posts', 'realtime_UPDATE_posts']);
  const second = await run('subscribe', 'public.posts', 'delete');
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /^Updated the subscription of public\.posts: DELETE/);
  assert.deepEqual(await triggersOf('public.posts'), ['realtime_DELETE_posts']);
  const start = await currentPosition(db.pool);
  await db.pool.query("INSERT INTO public.posts (title) VALUES ('a'); DELETE FROM public.posts");
  const changes = await changesOf('public.posts', start);
  assert.deepEqual(
    changes.map((change) => change.operation),
    ['DELETE'],
  );
});

test("the seed's filter is applied: subscribe public.comments INSERT,UPDATE \"post_id = '123'\"", async () => {
  const result = await run('subscribe', 'public.comments', 'INSERT,UPDATE', "post_id = '123'");
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /where post_id = '123'/);
  const start = await currentPosition(db.pool);
  await db.pool.query("INSERT INTO public.comments (post_id, body) VALUES (123, 'yes'), (124, 'no'), (123, 'yes too')");
  await db.pool.query("UPDATE public.comments SET post_id = 124 WHERE body = 'yes too'");
  await db.pool.query("UPDATE public.comments SET body = 'still no' WHERE body = 'no'");
  const changes = await changesOf('public.comments', start);
  assert.deepEqual(
    changes.map((change) => [change.operation, change.new?.body]),
    [
      ['INSERT', 'yes'],
      ['INSERT', 'yes too'],
      ['UPDATE', 'yes too'],
    ],
  );
  assert.equal(changes[2]?.old?.post_id, 123, 'an UPDATE that leaves the filter is announced with the old row');
});

test('every filter operator selects exactly the matching rows', async () => {
  const cases: [string, number[]][] = [
    ['score = 2', [2]],
    ['score != 2', [1, 3]],
    ['score <> 2', [1, 3]],
    ['score < 2', [1]],
    ['score <= 2', [1, 2]],
    ['score > 2', [3]],
    ['score >= 2', [2, 3]],
    ['score in (1, 3)', [1, 3]],
    ["score >= 1 and status = 'open'", [1, 3]],
    ["status in ('open') and score > 1", [3]],
  ];
  for (const [filter, expected] of cases) {
    const result = await run('subscribe', 'public.comments', 'INSERT', filter);
    assert.equal(result.code, 0, `${filter}: ${result.stderr}`);
    const start = await currentPosition(db.pool);
    await db.pool.query("INSERT INTO public.comments (post_id, score, status) VALUES (1, 1, 'open'), (1, 2, 'closed'), (1, 3, 'open')");
    const changes = await changesOf('public.comments', start);
    assert.deepEqual(
      changes.map((change) => Number(change.new?.score)),
      expected,
      filter,
    );
  }
});

test('bad input gets one clear line and changes nothing', async () => {
  await db.pool.query('CREATE TABLE public.orders (id int PRIMARY KEY, total numeric)');
  const cases: [string[], RegExp][] = [
    [['subscribe', 'public.userz'], /^error: table public\.userz does not exist; did you mean public\.users\?$/],
    [['subscribe', 'public.users', 'INSERT,UPSERT'], /^error: invalid event "UPSERT"; expected one of: INSERT, UPDATE, DELETE, TRUNCATE$/],
    [['subscribe', 'public.orders', 'INSERT', 'total >> 5'], /^error: invalid filter "total >> 5": expected a value .* at position 8, found ">"/],
    [['subscribe', 'public.orders', 'INSERT', "total = '1"], /^error: invalid filter "total = '1": unterminated string at position 9/],
    [['subscribe', 'public.orders', 'INSERT', 'totl = 5'], /^error: invalid filter: public\.orders has no column totl; did you mean total\?$/],
    [['subscribe', 'public.orders', 'INSERT', "total = 'lots'"], /^error: invalid filter: 'lots' is not a valid numeric for column total$/],
    [['subscribe', 'realtime.messages'], /^error: cannot subscribe to realtime\.messages: tables of the realtime schema/],
    [['subscribe', 'public.users;drop table x'], /^error: invalid table name "public\.users;drop table x"/],
    [['subscribe', 'public.orders', 'INSERT', '--capture', 'sometimes'], /^error: option '--capture <mode>' argument 'sometimes' is invalid/],
    [['unsubscribe', 'public.orders'], /^error: no subscription for public\.orders/],
  ];
  for (const [args, message] of cases) {
    const before = await captureState();
    const result = await run(...args);
    assert.equal(result.code, 1, `${args.join(' ')} should fail`);
    assert.match(result.stderr.trim(), message);
    assert.equal(result.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line`);
    assert.deepEqual(await captureState(), before, `${args.join(' ')} changed nothing`);
  }
});

test('subscriptions lists table, events, filter, changes seen, created_at and state; --json too', async () => {
  const table = await run('subscriptions');
  assert.equal(table.code, 0, table.stderr);
  const header = table.stdout.split('\n')[0] ?? '';
  for (const column of ['id', 'table', 'events', 'filter', 'capture', 'changes_seen', 'created_at', 'state']) {
    assert.match(header, new RegExp(`\\b${column}\\b`));
  }
  assert.match(table.stdout, /public\.users +\| INSERT,UPDATE,DELETE,TRUNCATE \|/);
  assert.match(table.stdout, /\(3 rows\)/);
  const json = await run('subscriptions', '--json');
  const rows = JSON.parse(json.stdout) as { table: string; changes_seen: number; state: string; filter: string | null }[];
  const posts = rows.find((row) => row.table === 'public.posts');
  assert.equal(posts?.changes_seen, 1);
  assert.equal(posts?.state, 'active');
  assert.equal(rows.find((row) => row.table === 'public.comments')?.filter, "status in ('open') and score > 1");
});

test('unsubscribe by table name and by id removes triggers, function and record', async () => {
  const byName = await run('unsubscribe', 'public.posts');
  assert.equal(byName.code, 0, byName.stderr);
  assert.match(byName.stdout, /^Unsubscribed public\.posts/);
  assert.deepEqual(await triggersOf('public.posts'), []);
  const fn = await db.pool.query("SELECT 1 FROM pg_proc WHERE proname = 'notify_public_posts'");
  assert.equal(fn.rowCount, 0);
  const { rows } = await db.pool.query("SELECT id FROM realtime.subscriptions WHERE table_name = 'public.comments'");
  const byId = await run('unsubscribe', rows[0].id);
  assert.equal(byId.code, 0, byId.stderr);
  assert.deepEqual(await triggersOf('public.comments'), []);
  const left = await db.pool.query('SELECT table_name FROM realtime.subscriptions');
  assert.deepEqual(left.rows, [{ table_name: 'public.users' }]);
});

test('stats reports the capture figures: subscriptions by mode, changes seen, last position, pending', async () => {
  await db.pool.query("INSERT INTO public.users (email) VALUES ('counted@example.com')");
  const result = await run('stats', '--json');
  assert.equal(result.code, 0, result.stderr);
  const capture = (JSON.parse(result.stdout) as { table_capture: Record<string, unknown>[] }).table_capture[0];
  const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM realtime.changes');
  assert.equal(capture?.subscriptions, 1);
  assert.equal(capture?.notify, 1);
  assert.equal(capture?.poll, 0);
  assert.equal(Number(capture?.last_position) + Number(capture?.pending), rows[0].n, 'every logged change is sequenced or pending');
  assert.ok(Number(capture?.pending) >= 1, 'the new change waits for a consumer to sequence it');
  const text = await run('stats');
  assert.match(text.stdout, /Table capture\n subscriptions \| notify \| poll \| changes_seen \| last_position \| pending/);
});
