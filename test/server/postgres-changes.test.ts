// Conformance: postgres_changes with unmodified supabase-js: events, filters, wildcards, capture set up on join, bad bindings.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RealtimePostgresChangesPayload } from '@supabase/supabase-js';
import type { RunningServer } from '@nself/server';
import type { TestDatabase } from '../helpers/database.js';
import { realtime } from '../helpers/cli.js';
import { freePort, startServerProcess } from './server-process.js';
import { freshDatabase, JWT_SECRET, startTestServer, subscribe, supabase, token, waitFor } from './support.js';

type Change = RealtimePostgresChangesPayload<Record<string, unknown>>;

let db: TestDatabase;
let server: RunningServer;
let serviceKey: string;

before(async () => {
  db = await freshDatabase();
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

/** Collects what a channel receives: changes per binding and system messages. */
function recorder() {
  return { changes: [] as Change[], system: [] as Array<{ extension?: string; status: string; message: string }> };
}

for (const vsn of ['1.0.0', '2.0.0'] as const) {
  test(`INSERT, UPDATE and DELETE reach a supabase-js subscriber with Supabase's payload (vsn ${vsn})`, async () => {
    const client = supabase(server, { key: serviceKey, vsn });
    const seen = recorder();
    try {
      const channel = client.channel(`todos-${vsn}`)
        .on('postgres_changes', { event: '*', schema: 'public', table: 'todos' }, (payload) => seen.changes.push(payload))
        .on('system', {}, (payload) => seen.system.push(payload as { status: string; message: string }));
      assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
      await waitFor(() => seen.system.some((message) => message.message === 'Subscribed to PostgreSQL'), 'Subscribed to PostgreSQL');
      assert.deepEqual(seen.system[0], { extension: 'postgres_changes', status: 'ok', message: 'Subscribed to PostgreSQL', channel: `todos-${vsn}` });

      const { rows: [row] } = await db.pool.query(
        `INSERT INTO todos (title, priority, tags, due) VALUES ('write tests', 2, '{a,b}', '2026-01-30T10:00:00Z') RETURNING id`);
      await db.pool.query('UPDATE todos SET done = true WHERE id = $1', [row.id]);
      await db.pool.query('DELETE FROM todos WHERE id = $1', [row.id]);
      await waitFor(() => seen.changes.length === 3, 'three changes');

      const [inserted, updated, deleted] = seen.changes as [Change, Change, Change];
      assert.deepEqual(Object.keys(inserted).sort(), ['commit_timestamp', 'errors', 'eventType', 'new', 'old', 'schema', 'table']);
      assert.equal(inserted.eventType, 'INSERT');
      assert.equal(inserted.schema, 'public');
      assert.equal(inserted.table, 'todos');
      assert.match(inserted.commit_timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(inserted.errors, null);
      assert.deepEqual(inserted.new, { id: row.id, title: 'write tests', done: false, priority: 2, tags: ['a', 'b'], due: '2026-01-30T10:00:00+00:00' });
      assert.deepEqual(inserted.old, {});
      assert.equal(updated.eventType, 'UPDATE');
      assert.equal((updated.new as { done: boolean }).done, true);
      assert.deepEqual(updated.old, { id: row.id }, 'old_record is the primary key under the default replica identity');
      assert.equal(deleted.eventType, 'DELETE');
      assert.deepEqual(deleted.new, {});
      assert.deepEqual(deleted.old, { id: row.id });
    } finally {
      await client.removeAllChannels();
    }
  });
}

test('joining sets up capture of the table with the events the bindings need, as `nself realtime subscriptions` lists it', async () => {
  await db.pool.query('CREATE TABLE notes_capture (id int PRIMARY KEY)');
  const client = supabase(server, { key: serviceKey });
  try {
    const seen = recorder();
    const channel = client.channel('capture-setup')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'notes_capture' }, (payload) => seen.changes.push(payload))
      .on('system', {}, (payload) => seen.system.push(payload as { status: string; message: string }));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    await waitFor(() => seen.system.length > 0, 'the system message');
    const { rows } = await db.pool.query(`SELECT events FROM realtime.subscriptions WHERE table_name = 'public.notes_capture'`);
    assert.deepEqual(rows.map((row) => row.events), [['INSERT']]);

    const more = client.channel('capture-setup-2')
      .on('postgres_changes', { event: 'DELETE', schema: 'public', table: 'notes_capture' }, () => undefined)
      .on('system', {}, (payload) => seen.system.push(payload as { status: string; message: string }));
    assert.equal((await subscribe(more)).status, 'SUBSCRIBED');
    await waitFor(() => seen.system.length > 1, 'the second system message');
    const { rows: after } = await db.pool.query(`SELECT events FROM realtime.subscriptions WHERE table_name = 'public.notes_capture'`);
    assert.deepEqual(after.map((row) => row.events), [['INSERT', 'DELETE']], 'events are added, never taken away');

    const listed = await realtime(['subscriptions', '--json'], { databaseUrl: db.url });
    assert.equal(listed.code, 0, listed.stderr);
    const entry = (JSON.parse(listed.stdout) as Array<{ table: string; events: string; state: string }>).find((row) => row.table === 'public.notes_capture');
    assert.deepEqual([entry?.events, entry?.state], ['INSERT,DELETE', 'active']);
  } finally {
    await client.removeAllChannels();
  }
});

test('filters eq, neq, lt, gt, gte, in and is select the rows each binding receives', async () => {
  const client = supabase(server, { key: serviceKey });
  const byFilter = new Map<string, number[]>();
  const filters = ['priority=eq.3', 'priority=neq.3', 'priority=lt.2', 'priority=gt.3', 'priority=gte.3', 'title=in.(alpha,"b,c")', 'priority=is.null'];
  try {
    let channel = client.channel('filters');
    for (const filter of filters) {
      byFilter.set(filter, []);
      channel = channel.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'todos', filter },
        (payload) => byFilter.get(filter)?.push((payload.new as { priority: number | null }).priority ?? -1));
    }
    const system = recorder().system;
    channel.on('system', {}, (payload) => system.push(payload as { status: string; message: string }));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    await waitFor(() => system.length > 0, 'the system message');
    assert.equal(system[0]?.status, 'ok', system[0]?.message);
    await db.pool.query(`INSERT INTO todos (title, priority) VALUES ('alpha', 1), ('b,c', 3), ('gamma', 10), ('delta', NULL)`);
    await waitFor(() => (byFilter.get('priority=gte.3') ?? []).length === 2 && (byFilter.get('priority=is.null') ?? []).length === 1, 'the filtered inserts');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(Object.fromEntries(byFilter), {
      'priority=eq.3': [3],
      'priority=neq.3': [1, 10],
      'priority=lt.2': [1],
      'priority=gt.3': [10],
      'priority=gte.3': [3, 10],
      'title=in.(alpha,"b,c")': [1, 3],
      'priority=is.null': [-1],
    });
  } finally {
    await client.removeAllChannels();
  }
});

test('filter values may be quoted, with escapes, and comma-joined conditions must all hold', async () => {
  const client = supabase(server, { key: serviceKey });
  const both: string[] = [];
  const quoted: string[] = [];
  const system = recorder().system;
  try {
    const channel = client.channel('grammar')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'todos', filter: 'title=eq."a,b",priority=gt.1' }, (payload) => both.push(`${(payload.new as { title: string }).title}/${(payload.new as { priority: number }).priority}`))
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'todos', filter: 'title=in.("say \\"hi\\"",other)' }, (payload) => quoted.push((payload.new as { title: string }).title))
      .on('system', {}, (payload) => system.push(payload as { status: string; message: string }));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    await waitFor(() => system.length > 0, 'the system message');
    assert.equal(system[0]?.status, 'ok', system[0]?.message);
    await db.pool.query(`INSERT INTO todos (title, priority) VALUES ('a,b', 1), ('a,b', 2), ('say "hi"', 0), ('other', 0), ('a', 5)`);
    await waitFor(() => both.length === 1 && quoted.length === 2, 'the matching inserts');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual([both, quoted], [['a,b/2'], ['say "hi"', 'other']]);
  } finally {
    await client.removeAllChannels();
  }
});

test('UPDATE and DELETE filters: DELETEs are matched on the old row; REPLICA IDENTITY FULL gives the whole old row', async () => {
  await db.pool.query(`INSERT INTO items VALUES (1, 'keep'), (2, 'drop')`);
  const client = supabase(server, { key: serviceKey });
  const seen = recorder();
  try {
    const channel = client.channel('items')
      .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'items', filter: 'id=eq.1' }, (payload) => seen.changes.push(payload))
      .on('postgres_changes', { event: 'DELETE', schema: 'public', table: 'items', filter: 'label=eq.DROP' }, (payload) => seen.changes.push(payload))
      .on('system', {}, (payload) => seen.system.push(payload as { status: string; message: string }));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    await waitFor(() => seen.system.length > 0, 'the system message');
    await db.pool.query(`UPDATE items SET label = upper(label) WHERE id IN (1, 2)`);
    await db.pool.query(`DELETE FROM items WHERE id IN (1, 2)`);
    await waitFor(() => seen.changes.length === 2, 'the update of 1 and the delete of 2');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(seen.changes.map((change) => [change.eventType, change.new, change.old]), [
      ['UPDATE', { id: 1, label: 'KEEP' }, { id: 1, label: 'keep' }],
      ['DELETE', {}, { id: 2, label: 'DROP' }],
    ]);
  } finally {
    await client.removeAllChannels();
  }
});

test("a binding on every table of a schema receives each table's changes; a change matching two bindings fires both", async () => {
  const client = supabase(server, { key: serviceKey });
  const everything: Change[] = [];
  const listsOnly: Change[] = [];
  const system = recorder().system;
  try {
    const channel = client.channel('wildcard')
      .on('postgres_changes', { event: '*', schema: 'public' }, (payload) => everything.push(payload))
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'lists' }, (payload) => listsOnly.push(payload))
      .on('system', {}, (payload) => system.push(payload as { status: string; message: string }));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    await waitFor(() => system.length > 0, 'the system message');
    await db.pool.query(`INSERT INTO lists VALUES (1, 'groceries')`);
    await db.pool.query(`INSERT INTO items VALUES (50, 'milk')`);
    await db.pool.query(`UPDATE lists SET name = 'food' WHERE id = 1`);
    await waitFor(() => everything.length === 3, 'three changes on the wildcard binding');
    assert.deepEqual(everything.map((change) => `${change.table} ${change.eventType}`), ['lists INSERT', 'items INSERT', 'lists UPDATE']);
    assert.deepEqual(listsOnly.map((change) => change.new), [{ id: 1, name: 'groceries' }]);
  } finally {
    await client.removeAllChannels();
  }
});

test('a TRUNCATE is never sent', async () => {
  await db.pool.query('CREATE TABLE scratch (id int PRIMARY KEY)');
  const client = supabase(server, { key: serviceKey });
  const seen = recorder();
  try {
    const channel = client.channel('scratch')
      .on('postgres_changes', { event: '*', schema: 'public', table: 'scratch' }, (payload) => seen.changes.push(payload))
      .on('system', {}, (payload) => seen.system.push(payload as { status: string; message: string }));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    await waitFor(() => seen.system.length > 0, 'the system message');
    await db.pool.query('INSERT INTO scratch VALUES (1)');
    await db.pool.query('TRUNCATE scratch');
    await db.pool.query('INSERT INTO scratch VALUES (2)');
    await waitFor(() => seen.changes.length === 2, 'both inserts');
    assert.deepEqual(seen.changes.map((change) => change.eventType), ['INSERT', 'INSERT']);
  } finally {
    await client.removeAllChannels();
  }
});

test('bad bindings get the subscription error as a system message, naming what was wrong', async () => {
  const client = supabase(server, { key: serviceKey });
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ event: 'INSERT', schema: 'public', table: 'nope' }, /table public\.nope does not exist/],
    [{ event: 'INSERT', schema: 'public', table: 'todos', filter: 'priority=like.3' }, /Error parsing `filter` params: unknown operator "like"/],
    [{ event: 'INSERT', schema: 'public', table: 'todos', filter: 'missing=eq.3' }, /invalid column for filter missing/],
    [{ event: 'INSERT', schema: 'public', table: 'todos', filter: 'priority=eq.high' }, /invalid filter "priority=eq\.high": invalid input syntax for type integer/],
    [{ event: 'INSERT', schema: 'realtime', table: 'messages' }, /realtime schema/],
    [{ event: 'INSERT', schema: 'public', table: 'todos', filter: 'priority=in.(1,2' }, /unbalanced parentheses/],
    [{ event: 'INSERT', schema: 'public', table: 'todos', filter: 'priority=is.maybe' }, /is accepts null, true, false, unknown, found "maybe"/],
    [{ event: 'INSERT', schema: 'public', table: 'todos', filter: 'priority' }, /"priority" has no column=op\.value/],
    [{ event: 'TRUNCATE', schema: 'public', table: 'todos' }, /event "TRUNCATE" is not one of \*, INSERT, UPDATE, DELETE/],
    [{ event: 'INSERT', schema: 'public', filter: 'id=eq.1' }, /filter and select need a table/],
  ];
  try {
    for (const [index, [binding, expected]] of cases.entries()) {
      const system = recorder().system;
      const channel = client.channel(`bad-${index}`)
        .on('postgres_changes', binding as { event: 'INSERT'; schema: string }, () => undefined)
        .on('system', {}, (payload) => system.push(payload as { status: string; message: string }));
      assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
      await waitFor(() => system.length > 0, `the error for ${JSON.stringify(binding)}`);
      assert.equal(system[0]?.status, 'error');
      assert.match(system[0]?.message ?? '', /^Unable to subscribe to changes with given parameters/);
      assert.match(system[0]?.message ?? '', expected);
    }
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM realtime.subscriptions WHERE table_name LIKE 'realtime.%'`);
    assert.equal(rows[0].n, 0);
  } finally {
    await client.removeAllChannels();
  }
});

test('select narrows the columns sent to those asked for and the primary key', async () => {
  const client = supabase(server, { key: serviceKey });
  const seen = recorder();
  try {
    const channel = client.channel('selected')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'todos', select: ['title'] } as { event: 'INSERT'; schema: string; table: string }, (payload) => seen.changes.push(payload))
      .on('system', {}, (payload) => seen.system.push(payload as { status: string; message: string }));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    await waitFor(() => seen.system.length > 0, 'the system message');
    assert.equal(seen.system[0]?.status, 'ok', seen.system[0]?.message);
    const { rows: [row] } = await db.pool.query(`INSERT INTO todos (title, priority) VALUES ('narrow', 5) RETURNING id`);
    await waitFor(() => seen.changes.length === 1, 'the insert');
    assert.deepEqual(seen.changes[0]?.new, { id: row.id, title: 'narrow' });
  } finally {
    await client.removeAllChannels();
  }
});

test('two server processes on one database each deliver the table changes to their own subscribers', async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  const a = await startServerProcess(db.url, portA);
  const b = await startServerProcess(db.url, portB);
  const onA = supabase({ port: portA });
  const onB = supabase({ port: portB });
  try {
    const seenOnA: Change[] = [];
    const seenOnB: Change[] = [];
    const systemOnA: string[] = [];
    const systemOnB: string[] = [];
    const channelA = onA.channel('shared-lists')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'lists' }, (payload) => seenOnA.push(payload))
      .on('system', {}, (payload) => systemOnA.push((payload as { message: string }).message));
    const channelB = onB.channel('shared-lists')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'lists' }, (payload) => seenOnB.push(payload))
      .on('system', {}, (payload) => systemOnB.push((payload as { message: string }).message));
    assert.equal((await subscribe(channelA)).status, 'SUBSCRIBED');
    assert.equal((await subscribe(channelB)).status, 'SUBSCRIBED');
    await waitFor(() => systemOnA.includes('Subscribed to PostgreSQL') && systemOnB.includes('Subscribed to PostgreSQL'), 'both subscriptions');
    await db.pool.query(`INSERT INTO lists VALUES (77, 'both')`);
    await waitFor(() => seenOnA.length === 1 && seenOnB.length === 1, 'the insert on both processes');
    assert.deepEqual([seenOnA[0]?.new, seenOnB[0]?.new], [{ id: 77, name: 'both' }, { id: 77, name: 'both' }]);
  } finally {
    await onA.removeAllChannels();
    await onB.removeAllChannels();
    assert.equal(await a.stop(), 0);
    assert.equal(await b.stop(), 0);
  }
});
