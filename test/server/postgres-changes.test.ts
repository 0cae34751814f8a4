// Conformance: postgres_changes with unmodified supabase-js: events, filters, wildcards, capture set up on join, bad bindings.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { currentPosition } from '@nself/db';
import type { RunningServer } from '@nself/server';
import { realtime } from '../helpers/cli.js';
import { capturesFromWal, type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { settle, watchChanges, type Change } from './postgres-changes-support.js';
import { supabase } from './support.js';
import { freePort, startServerProcess } from '../helpers/server-process.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { startTestServer } from '../helpers/server.js';

let db: TestDatabase;
let server: RunningServer;
let serviceKey: string;

before(async () => {
  db = await createTestDatabase({ migrated: true });
  server = await startTestServer(db, { jwtSecret: JWT_SECRET });
  serviceKey = await token(undefined, { role: 'service_role' });
  await db.pool.query(`
    CREATE TABLE todos (id serial PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false, priority int, tags text[], due timestamptz);
    CREATE TABLE items (id int PRIMARY KEY, label text);
    CREATE TABLE lists (id int PRIMARY KEY, name text);
    ALTER TABLE items REPLICA IDENTITY FULL;
  `);
});

after(async () => {
  await server?.close();
  await db?.drop();
});

/** Runs `body` with a supabase-js client of the service role (vsn as given), removing its channels after. */
async function asService(body: (client: ReturnType<typeof supabase>) => Promise<void>, vsn: '1.0.0' | '2.0.0' = '2.0.0'): Promise<void> {
  const client = supabase(server, { key: serviceKey, vsn });
  try {
    await body(client);
  } finally {
    await client.removeAllChannels();
  }
}

for (const vsn of ['1.0.0', '2.0.0'] as const) {
  test(`INSERT, UPDATE and DELETE reach a supabase-js subscriber with Supabase's payload (vsn ${vsn})`, () =>
    asService(async (client) => {
      const seen = await watchChanges(client, `todos-${vsn}`, [{ event: '*', schema: 'public', table: 'todos' }]);
      // The position delivery starts after: the change log's newest position when the subscription began.
      const position = await currentPosition(db.pool);
      assert.deepEqual(seen.system, [{ extension: 'postgres_changes', status: 'ok', message: 'Subscribed to PostgreSQL', channel: `todos-${vsn}`, position }]);

      const {
        rows: [row],
      } = await db.pool.query(`INSERT INTO todos (title, priority, tags, due) VALUES ('write tests', 2, '{a,b}', '2026-01-30T10:00:00Z') RETURNING id`);
      await db.pool.query('UPDATE todos SET done = true WHERE id = $1', [row.id]);
      await db.pool.query('DELETE FROM todos WHERE id = $1', [row.id]);
      await waitFor(() => seen.changes.length === 3, 'three changes');

      const [inserted, updated, deleted] = seen.changes as [Change, Change, Change];
      assert.deepEqual(Object.keys(inserted).sort(), ['commit_timestamp', 'errors', 'eventType', 'new', 'old', 'schema', 'table']);
      assert.deepEqual([inserted.eventType, inserted.schema, inserted.table, inserted.errors], ['INSERT', 'public', 'todos', null]);
      assert.match(inserted.commit_timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.deepEqual(inserted.new, { id: row.id, title: 'write tests', done: false, priority: 2, tags: ['a', 'b'], due: '2026-01-30T10:00:00+00:00' });
      assert.deepEqual(inserted.old, {});
      assert.equal(updated.eventType, 'UPDATE');
      assert.equal((updated.new as { done: boolean }).done, true);
      assert.deepEqual(updated.old, { id: row.id }, 'old_record is the primary key under the default replica identity');
      assert.deepEqual([deleted.eventType, deleted.new, deleted.old], ['DELETE', {}, { id: row.id }]);
    }, vsn));
}

test('joining sets up capture of the table with the events the bindings need, as `nself realtime subscriptions` lists it', () =>
  asService(async (client) => {
    await db.pool.query('CREATE TABLE notes_capture (id int PRIMARY KEY)');
    await watchChanges(client, 'capture-setup', [{ event: 'INSERT', schema: 'public', table: 'notes_capture' }]);
    if (await capturesFromWal(db.pool)) {
      // From the WAL: a record of what to capture, every event, and no trigger on the table.
      const listed = await realtime(['subscriptions', '--json'], { databaseUrl: db.url });
      const entry = (JSON.parse(listed.stdout) as Array<{ table: string; events: string; capture: string; state: string }>).find((row) => row.table === 'public.notes_capture');
      assert.deepEqual([entry?.capture, entry?.events, entry?.state], ['wal', 'INSERT,UPDATE,DELETE,TRUNCATE', 'active']);
      const { rows } = await db.pool.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.notes_capture'::regclass`);
      assert.deepEqual(rows, []);
      return;
    }
    const { rows } = await db.pool.query(`SELECT events FROM realtime.subscriptions WHERE table_name = 'public.notes_capture'`);
    assert.deepEqual(
      rows.map((row) => row.events),
      [['INSERT']],
    );

    await watchChanges(client, 'capture-setup-2', [{ event: 'DELETE', schema: 'public', table: 'notes_capture' }]);
    const { rows: widened } = await db.pool.query(`SELECT events FROM realtime.subscriptions WHERE table_name = 'public.notes_capture'`);
    assert.deepEqual(
      widened.map((row) => row.events),
      [['INSERT', 'DELETE']],
      'events are added, never taken away',
    );

    const listed = await realtime(['subscriptions', '--json'], { databaseUrl: db.url });
    assert.equal(listed.code, 0, listed.stderr);
    const entry = (JSON.parse(listed.stdout) as Array<{ table: string; events: string; state: string }>).find((row) => row.table === 'public.notes_capture');
    assert.deepEqual([entry?.events, entry?.state], ['INSERT,DELETE', 'active']);
  }));

test('filters eq, neq, lt, gt, gte, in and is select the rows each binding receives', () =>
  asService(async (client) => {
    const filters = ['priority=eq.3', 'priority=neq.3', 'priority=lt.2', 'priority=gt.3', 'priority=gte.3', 'title=in.(alpha,"b,c")', 'priority=is.null'];
    const seen = await watchChanges(
      client,
      'filters',
      filters.map((filter) => ({ event: 'INSERT', schema: 'public', table: 'todos', filter })),
    );
    assert.equal(seen.system[0]?.status, 'ok', seen.system[0]?.message);
    await db.pool.query(`INSERT INTO todos (title, priority) VALUES ('alpha', 1), ('b,c', 3), ('gamma', 10), ('delta', NULL)`);
    await waitFor(() => seen.changes.length === 10, 'the filtered inserts');
    await settle();
    const priorities = seen.byBinding.map((changes) => changes.map((change) => (change.new as { priority: number | null }).priority));
    assert.deepEqual(Object.fromEntries(filters.map((filter, index) => [filter, priorities[index]])), {
      'priority=eq.3': [3],
      'priority=neq.3': [1, 10],
      'priority=lt.2': [1],
      'priority=gt.3': [10],
      'priority=gte.3': [3, 10],
      'title=in.(alpha,"b,c")': [1, 3],
      'priority=is.null': [null],
    });
  }));

test('the newer filters like, ilike, match, imatch, isdistinct and not. select as on Supabase; a NULL passes no comparison, negated or not', () =>
  asService(async (client) => {
    const filters = [
      'title=like.Gam%',
      'title=ilike.*AMM*',
      'title=match.^[ab]',
      'title=imatch.^D',
      'priority=isdistinct.3',
      'priority=not.eq.3',
      'title=not.in.(alpha,gamma)',
      'priority=not.is.null',
    ];
    const seen = await watchChanges(
      client,
      'newer-filters',
      filters.map((filter) => ({ event: 'INSERT', schema: 'public', table: 'todos', filter })),
    );
    assert.equal(seen.system[0]?.status, 'ok', seen.system[0]?.message);
    await db.pool.query(`INSERT INTO todos (title, priority) VALUES ('alpha', 1), ('beta', 3), ('gamma', 10), ('Delta', NULL)`);
    await waitFor(() => seen.changes.length === 14, 'the filtered inserts');
    await settle();
    const titles = seen.byBinding.map((changes) => changes.map((change) => (change.new as { title: string }).title));
    assert.deepEqual(Object.fromEntries(filters.map((filter, index) => [filter, titles[index]])), {
      'title=like.Gam%': [],
      'title=ilike.*AMM*': ['gamma'],
      'title=match.^[ab]': ['alpha', 'beta'],
      'title=imatch.^D': ['Delta'],
      'priority=isdistinct.3': ['alpha', 'gamma', 'Delta'],
      'priority=not.eq.3': ['alpha', 'gamma'],
      'title=not.in.(alpha,gamma)': ['beta', 'Delta'],
      'priority=not.is.null': ['alpha', 'beta', 'gamma'],
    });
  }));

test('/metrics times each delivered table change once, however many subscribers received it', () =>
  asService(async (client) => {
    await db.pool.query('CREATE TABLE notes_timed (id int PRIMARY KEY)');
    const count = async () => Number(/^realtime_change_delivery_latency_seconds_count (\d+)/m.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 'NaN');
    const first = await watchChanges(client, 'timed-1', [{ event: 'INSERT', schema: 'public', table: 'notes_timed' }]);
    const second = await watchChanges(client, 'timed-2', [{ event: 'INSERT', schema: 'public', table: 'notes_timed' }]);
    const before = await count();
    await db.pool.query('INSERT INTO notes_timed VALUES (1), (2), (3)');
    await waitFor(() => first.changes.length === 3 && second.changes.length === 3, 'both subscribers have the three inserts');
    await settle();
    assert.equal((await count()) - before, 3);
  }));

test('once its last table change subscriber has left, the server stops renewing its request for positions at commit, and asks again at the next join', async (t) => {
  if (await capturesFromWal(db.pool)) return t.skip('positions at commit belong to the trigger path');
  const requestedFor = async () =>
    (await db.pool.query<{ seconds: number }>('SELECT extract(epoch FROM announce_until - clock_timestamp())::float8 AS seconds FROM realtime.capture_state')).rows[0]?.seconds ??
    0;
  await db.pool.query('CREATE TABLE quiet_notes (id int PRIMARY KEY)');
  const client = supabase(server, { key: serviceKey });
  try {
    const seen = await watchChanges(client, 'quiet-1', [{ event: 'INSERT', schema: 'public', table: 'quiet_notes' }]);
    await db.pool.query('INSERT INTO quiet_notes VALUES (1)');
    await waitFor(() => seen.changes.length === 1, 'the first change');
    assert.ok((await requestedFor()) > 30, 'asked while subscribed');

    await client.removeAllChannels();
    await settle();
    // Close to its end: a server that still asks renews it within 5 s.
    await db.pool.query("UPDATE realtime.capture_state SET announce_until = clock_timestamp() + interval '20 seconds'");
    await sleep(5_500);
    assert.ok((await requestedFor()) < 15, 'not renewed with nobody subscribed');

    const again = await watchChanges(client, 'quiet-2', [{ event: 'INSERT', schema: 'public', table: 'quiet_notes' }]);
    await waitFor(async () => (await requestedFor()) > 50, 'the request renewed at the join');
    await db.pool.query('INSERT INTO quiet_notes VALUES (2)');
    await waitFor(() => again.changes.length === 1, 'the change after joining again');
    assert.equal((again.changes[0]?.new as { id: number }).id, 2);
  } finally {
    await client.removeAllChannels();
  }
});

test('filter values may be quoted, with escapes, and comma-joined conditions must all hold', () =>
  asService(async (client) => {
    const seen = await watchChanges(client, 'grammar', [
      { event: 'INSERT', schema: 'public', table: 'todos', filter: 'title=eq."a,b",priority=gt.1' },
      { event: 'INSERT', schema: 'public', table: 'todos', filter: 'title=in.("say \\"hi\\"",other)' },
    ]);
    assert.equal(seen.system[0]?.status, 'ok', seen.system[0]?.message);
    await db.pool.query(`INSERT INTO todos (title, priority) VALUES ('a,b', 1), ('a,b', 2), ('say "hi"', 0), ('other', 0), ('a', 5)`);
    await waitFor(() => seen.changes.length === 3, 'the matching inserts');
    await settle();
    const rows = seen.byBinding.map((changes) => changes.map((change) => `${(change.new as { title: string }).title}/${(change.new as { priority: number }).priority}`));
    assert.deepEqual(rows, [['a,b/2'], ['say "hi"/0', 'other/0']]);
  }));

test('UPDATE and DELETE filters: DELETEs are matched on the old row; REPLICA IDENTITY FULL gives the whole old row', () =>
  asService(async (client) => {
    await db.pool.query(`INSERT INTO items VALUES (1, 'keep'), (2, 'drop')`);
    const seen = await watchChanges(client, 'items', [
      { event: 'UPDATE', schema: 'public', table: 'items', filter: 'id=eq.1' },
      { event: 'DELETE', schema: 'public', table: 'items', filter: 'label=eq.DROP' },
    ]);
    await db.pool.query(`UPDATE items SET label = upper(label) WHERE id IN (1, 2)`);
    await db.pool.query(`DELETE FROM items WHERE id IN (1, 2)`);
    await waitFor(() => seen.changes.length === 2, 'the update of 1 and the delete of 2');
    await settle();
    assert.deepEqual(
      seen.changes.map((change) => [change.eventType, change.new, change.old]),
      [
        ['UPDATE', { id: 1, label: 'KEEP' }, { id: 1, label: 'keep' }],
        ['DELETE', {}, { id: 2, label: 'DROP' }],
      ],
    );
  }));

test("a binding on every table of a schema receives each table's changes; a change matching two bindings fires both", () =>
  asService(async (client) => {
    const seen = await watchChanges(client, 'wildcard', [
      { event: '*', schema: 'public' },
      { event: 'INSERT', schema: 'public', table: 'lists' },
    ]);
    await db.pool.query(`INSERT INTO lists VALUES (1, 'groceries')`);
    await db.pool.query(`INSERT INTO items VALUES (50, 'milk')`);
    await db.pool.query(`UPDATE lists SET name = 'food' WHERE id = 1`);
    await waitFor(() => seen.byBinding[0]?.length === 3, 'three changes on the wildcard binding');
    assert.deepEqual(
      seen.byBinding[0]?.map((change) => `${change.table} ${change.eventType}`),
      ['lists INSERT', 'items INSERT', 'lists UPDATE'],
    );
    assert.deepEqual(
      seen.byBinding[1]?.map((change) => change.new),
      [{ id: 1, name: 'groceries' }],
    );
  }));

test('a TRUNCATE is never sent', () =>
  asService(async (client) => {
    await db.pool.query('CREATE TABLE scratch (id int PRIMARY KEY)');
    const seen = await watchChanges(client, 'scratch', [{ event: '*', schema: 'public', table: 'scratch' }]);
    await db.pool.query('INSERT INTO scratch VALUES (1)');
    await db.pool.query('TRUNCATE scratch');
    await db.pool.query('INSERT INTO scratch VALUES (2)');
    await waitFor(() => seen.changes.length === 2, 'both inserts');
    assert.deepEqual(
      seen.changes.map((change) => change.eventType),
      ['INSERT', 'INSERT'],
    );
  }));

test('select narrows the columns sent to those asked for and the primary key', () =>
  asService(async (client) => {
    const seen = await watchChanges(client, 'selected', [{ event: 'INSERT', schema: 'public', table: 'todos', select: ['title'] }]);
    assert.equal(seen.system[0]?.status, 'ok', seen.system[0]?.message);
    const {
      rows: [row],
    } = await db.pool.query(`INSERT INTO todos (title, priority) VALUES ('narrow', 5) RETURNING id`);
    await waitFor(() => seen.changes.length === 1, 'the insert');
    assert.deepEqual(seen.changes[0]?.new, { id: row.id, title: 'narrow' });
  }));

test('bad bindings get the subscription error as a system message, naming what was wrong', () =>
  asService(async (client) => {
    const cases: Array<[{ event: string; schema: string; table?: string; filter?: string }, RegExp]> = [
      [{ event: 'INSERT', schema: 'public', table: 'nope' }, /table public\.nope does not exist/],
      [{ event: 'INSERT', schema: 'public', table: 'todos', filter: 'priority=likes.3' }, /Error parsing `filter` params: unknown operator "likes"/],
      [{ event: 'INSERT', schema: 'public', table: 'todos', filter: 'missing=eq.3' }, /invalid column for filter missing/],
      [{ event: 'INSERT', schema: 'public', table: 'todos', filter: 'priority=eq.high' }, /invalid filter "priority=eq\.high": invalid input syntax for type integer/],
      [{ event: 'INSERT', schema: 'realtime', table: 'messages' }, /realtime schema/],
      [{ event: 'INSERT', schema: 'public', table: 'todos', filter: 'priority=in.(1,2' }, /unbalanced parentheses/],
      [{ event: 'INSERT', schema: 'public', table: 'todos', filter: 'priority=is.maybe' }, /is accepts null, true, false, unknown, found "maybe"/],
      [{ event: 'INSERT', schema: 'public', table: 'todos', filter: 'priority' }, /"priority" has no column=op\.value/],
      [{ event: 'TRUNCATE', schema: 'public', table: 'todos' }, /event "TRUNCATE" is not one of \*, INSERT, UPDATE, DELETE/],
      [{ event: 'INSERT', schema: 'public', filter: 'id=eq.1' }, /filter and select need a table/],
    ];
    for (const [index, [binding, expected]] of cases.entries()) {
      const seen = await watchChanges(client, `bad-${index}`, [binding]);
      assert.equal(seen.system[0]?.status, 'error');
      assert.match(seen.system[0]?.message ?? '', /^Unable to subscribe to changes with given parameters/);
      assert.match(seen.system[0]?.message ?? '', expected);
    }
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM realtime.subscriptions WHERE table_name LIKE 'realtime.%'`);
    assert.equal(rows[0].n, 0);
  }));

test('two server processes on one database each deliver the table changes to their own subscribers', async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  const a = await startServerProcess(db.url, portA);
  const b = await startServerProcess(db.url, portB);
  const onA = supabase({ port: portA });
  const onB = supabase({ port: portB });
  try {
    const binding = { event: 'INSERT', schema: 'public', table: 'lists' };
    const seenOnA = await watchChanges(onA, 'shared-lists', [binding]);
    const seenOnB = await watchChanges(onB, 'shared-lists', [binding]);
    assert.deepEqual([seenOnA.system[0]?.message, seenOnB.system[0]?.message], ['Subscribed to PostgreSQL', 'Subscribed to PostgreSQL']);
    await db.pool.query(`INSERT INTO lists VALUES (77, 'both')`);
    await waitFor(() => seenOnA.changes.length === 1 && seenOnB.changes.length === 1, 'the insert on both processes');
    assert.deepEqual(
      [seenOnA.changes[0]?.new, seenOnB.changes[0]?.new],
      [
        { id: 77, name: 'both' },
        { id: 77, name: 'both' },
      ],
    );
  } finally {
    await onA.removeAllChannels();
    await onB.removeAllChannels();
    assert.equal(await a.stop(), 0);
    assert.equal(await b.stop(), 0);
  }
});
