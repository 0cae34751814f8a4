// Changes positioned by their own transaction at commit and announced on realtime:changes, and every way back to the log.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { ChangeFeed, currentPosition, parseTableName, readChanges, subscribe, type Change } from '@nself/db';
import { assertCommitOrder } from '../helpers/change-order.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const table = parseTableName('public.notes');
let db: TestDatabase;

before(async () => {
  db = await createTestDatabase({ migrated: true });
  await db.pool.query('CREATE TABLE public.notes (id bigserial PRIMARY KEY, writer int NOT NULL, seq int NOT NULL, body text)');
  await subscribe(db.pool, { table });
});
after(async () => {
  await db.drop();
});

/** Collects what a feed on public.notes delivers until `stop`. */
async function collect(): Promise<{ received: Change[]; stop: () => Promise<void> }> {
  const received: Change[] = [];
  const feed = await ChangeFeed.start({
    pool: db.pool,
    tables: [table],
    onChanges: (batch) => {
      received.push(...batch);
    },
  });
  return { received, stop: () => feed.stop() };
}

async function until(check: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('while a feed runs, a committed transaction announces the positions of its changes on realtime:changes, without their rows', async () => {
  const feed = await collect();
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  const notes: string[] = [];
  listener.on('notification', (note) => {
    if (note.channel === 'realtime:changes') notes.push(note.payload ?? '');
  });
  await listener.query('LISTEN "realtime:changes"');
  try {
    await db.pool.query("INSERT INTO public.notes (writer, seq, body) VALUES (1, 0, 'announced')");
    await until(() => notes.length > 0 && feed.received.length > 0, 'the announcement and the delivery');
    const note = JSON.parse(notes[0] ?? '{}') as { first: number; last: number };
    assert.deepEqual(Object.keys(note).sort(), ['first', 'last'], 'positions only: any database login may LISTEN');
    assert.equal(note.last, note.first, 'one change, one position');
    assert.ok(!(notes[0] ?? '').includes('announced'), 'no row value rides along');
    assert.equal(feed.received[0]?.position, note.first, 'the feed delivers it at the announced position');
    assert.equal(feed.received[0]?.new?.body, 'announced', 'read from the log');
    assert.match(feed.received[0]?.accessVersion ?? '', /^[0-9a-f]{64}$/, 'with the access version of its table');
    const [logged] = await readChanges(db.pool, { after: note.first - 1, tables: [table], limit: 1 });
    assert.equal(logged?.position, note.first, 'the log holds it at the same position');
  } finally {
    await listener.end();
    await feed.stop();
  }
});

test('a feed that wants no announcements leaves every change to the rounds, and still delivers each once, in order', async () => {
  await db.pool.query('UPDATE realtime.capture_state SET announce_until = NULL');
  const received: Change[] = [];
  const feed = await ChangeFeed.start({
    pool: db.pool,
    tables: [table],
    announcements: false,
    onChanges: (batch) => {
      received.push(...batch);
    },
  });
  try {
    for (let seq = 0; seq < 20; seq += 1) await db.pool.query('INSERT INTO public.notes (writer, seq) VALUES (300, $1)', [seq]);
    await until(() => received.length >= 20, '20 changes');
    const state = await db.pool.query<{ announce_until: Date | null }>('SELECT announce_until FROM realtime.capture_state');
    assert.equal(state.rows[0]?.announce_until, null, 'writers were never asked to announce');
  } finally {
    await feed.stop();
  }
  assertCommitOrder(received, 1, 20);
  const marked = await db.pool.query<{ n: string }>("SELECT count(*) AS n FROM realtime.changes WHERE (new_record->>'writer')::int = 300 AND at_commit");
  assert.equal(marked.rows[0]?.n, '20', 'the rows are marked; the rounds numbered them');
});

test("writers with synchronous_commit off and on, side by side, arrive once each, dense and in each writer's order", async () => {
  const feed = await collect();
  const writers = 6;
  const rows = 150;
  try {
    await Promise.all(
      Array.from({ length: writers }, async (_, writer) => {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          if (writer % 2 === 1) await client.query('SET synchronous_commit = off');
          for (let seq = 0; seq < rows; seq += 1) await client.query('INSERT INTO public.notes (writer, seq) VALUES ($1, $2)', [100 + writer, seq]);
        } finally {
          await client.end();
        }
      }),
    );
    await until(() => feed.received.length >= writers * rows, `${writers * rows} changes`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  } finally {
    await feed.stop();
  }
  assertCommitOrder(feed.received, writers, rows);
});

test('writers under REPEATABLE READ and SERIALIZABLE commit beside writers that position at commit, and arrive once each, in order', async () => {
  const feed = await collect();
  const isolations = ['READ COMMITTED', 'REPEATABLE READ', 'SERIALIZABLE', 'READ COMMITTED', 'REPEATABLE READ', 'SERIALIZABLE'];
  const rows = 60;
  try {
    await Promise.all(
      isolations.map(async (isolation, writer) => {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          for (let seq = 0; seq < rows; seq += 1) {
            // The snapshot is taken by the first statement, before the other writers' commits meanwhile.
            await client.query(`BEGIN ISOLATION LEVEL ${isolation}`);
            await client.query('SELECT 1');
            await new Promise((resolve) => setTimeout(resolve, 2));
            await client.query('INSERT INTO public.notes (writer, seq) VALUES ($1, $2)', [500 + writer, seq]);
            await client.query('COMMIT');
          }
        } finally {
          await client.end();
        }
      }),
    );
    await until(() => feed.received.length >= isolations.length * rows, `${isolations.length * rows} changes`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  } finally {
    await feed.stop();
  }
  assertCommitOrder(feed.received, isolations.length, rows);
  const marked = await db.pool.query<{ writer: number; at_commit: boolean; n: number }>(
    `SELECT (new_record->>'writer')::int AS writer, at_commit, count(*)::int AS n FROM realtime.changes
      WHERE (new_record->>'writer')::int BETWEEN 500 AND 505 GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  assert.deepEqual(
    marked.rows.map((row) => [row.writer, row.at_commit]),
    isolations.map((isolation, writer) => [500 + writer, isolation === 'READ COMMITTED']),
    'only READ COMMITTED rows are marked to be positioned at their commit',
  );
});

test("a commit that finds the position lock taken is numbered before the next writer's own changes; a round then forgets it", async () => {
  await db.pool.query("UPDATE realtime.capture_state SET announce_until = now() + interval '1 minute'");
  await db.pool.query('SELECT realtime.sequence_changes()');
  const holder = await db.pool.connect();
  const early = await db.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT last_position FROM realtime.capture_state FOR UPDATE');
    await early.query('INSERT INTO public.notes (writer, seq) VALUES (400, 0)');
    const listed = await db.pool.query<{ pid: number; n: number }>('SELECT pid, cardinality(xids) AS n FROM realtime.unpositioned_writers');
    const earlyPid = (await early.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    assert.deepEqual(listed.rows, [{ pid: earlyPid, n: 1 }], 'the writer that found the lock taken lists its transaction');
    await holder.query('ROLLBACK');

    await db.pool.query('INSERT INTO public.notes (writer, seq) VALUES (401, 0)');
    const logged = await db.pool.query<{ writer: string; position: string | null }>(
      "SELECT new_record->>'writer' AS writer, position FROM realtime.changes WHERE (new_record->>'writer')::int IN (400, 401) ORDER BY id",
    );
    assert.equal(logged.rows.length, 2);
    assert.ok(
      logged.rows.every((row) => row.position !== null),
      'the next committer numbered both, with no round',
    );
    assert.equal(Number(logged.rows[1]!.position), Number(logged.rows[0]!.position) + 1, 'the earlier commit first');

    await db.pool.query('SELECT realtime.sequence_changes()');
    const left = await db.pool.query('SELECT * FROM realtime.unpositioned_writers');
    assert.equal(left.rowCount, 0, 'a round forgets lists whose transactions are all numbered');
  } finally {
    holder.release();
    early.release();
  }
});

test('a writer that found no request and committed before a feed asked is numbered before the writers positioning after the request', async () => {
  await db.pool.query('UPDATE realtime.capture_state SET announce_until = NULL');
  await db.pool.query('SELECT realtime.sequence_changes()');
  await db.pool.query('INSERT INTO public.notes (writer, seq) VALUES (600, 0)');
  await db.pool.query('SELECT realtime.request_announcements()');
  await db.pool.query('INSERT INTO public.notes (writer, seq) VALUES (601, 0)');
  const logged = await db.pool.query<{ writer: string; position: string | null }>(
    "SELECT new_record->>'writer' AS writer, position FROM realtime.changes WHERE (new_record->>'writer')::int IN (600, 601) ORDER BY id",
  );
  assert.deepEqual(
    logged.rows.map((row) => row.writer),
    ['600', '601'],
  );
  assert.ok(
    logged.rows.every((row) => row.position !== null),
    'both numbered without a round after the second commit',
  );
  assert.ok(Number(logged.rows[0]!.position) < Number(logged.rows[1]!.position), 'the commit before the request comes first');
});

test('a request for announcements waits for a writer still looking for one, then numbers its change first', async () => {
  await db.pool.query('UPDATE realtime.capture_state SET announce_until = NULL');
  await db.pool.query('SELECT realtime.sequence_changes()');
  const writer = await db.pool.connect();
  try {
    // Constraints checked at once: the writer looks for a request at the INSERT and holds on until it commits.
    await writer.query('BEGIN');
    await writer.query('SET CONSTRAINTS ALL IMMEDIATE');
    await writer.query('INSERT INTO public.notes (writer, seq) VALUES (610, 0)');
    await assert.rejects(db.pool.query('SELECT realtime.request_announcements()'), { code: '55P03' }, 'by default a request gives up after 100 ms, and is asked again later');
    let granted = false;
    const request = db.pool.query('SELECT realtime.request_announcements(60, 10000)').then(() => {
      granted = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(granted, false, 'the request waits while the writer has not committed');
    await writer.query('COMMIT');
    await request;
  } finally {
    writer.release();
  }
  await db.pool.query('INSERT INTO public.notes (writer, seq) VALUES (611, 0)');
  const logged = await db.pool.query<{ writer: string; position: string | null }>(
    "SELECT new_record->>'writer' AS writer, position FROM realtime.changes WHERE (new_record->>'writer')::int IN (610, 611) ORDER BY position",
  );
  assert.deepEqual(
    logged.rows.map((row) => row.writer),
    ['610', '611'],
    'numbered in commit order',
  );
  assert.ok(logged.rows.every((row) => row.position !== null));
});

test('a feed that stops asking leaves the request to lapse, listens on the table again, and delivers every change', async () => {
  const received: Change[] = [];
  const feed = await ChangeFeed.start({
    pool: db.pool,
    tables: [table],
    onChanges: (batch) => {
      received.push(...batch);
    },
  });
  const requestedFor = async () => {
    const { rows } = await db.pool.query<{ seconds: number }>('SELECT extract(epoch FROM announce_until - clock_timestamp())::float8 AS seconds FROM realtime.capture_state');
    return rows[0]?.seconds ?? 0;
  };
  try {
    feed.askForAnnouncements(false);
    // Close to its end: a feed that asks would renew it at its next look.
    await db.pool.query("UPDATE realtime.capture_state SET announce_until = clock_timestamp() + interval '20 seconds'");
    feed.refresh();
    await db.pool.query('INSERT INTO public.notes (writer, seq) VALUES (620, 0)');
    await until(() => received.length >= 1, 'the first change');
    // The feed looks at its request at least every 5 s.
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    assert.ok((await requestedFor()) < 15, 'not renewed');
    await db.pool.query('UPDATE realtime.capture_state SET announce_until = NULL');
    for (let seq = 1; seq < 10; seq += 1) await db.pool.query('INSERT INTO public.notes (writer, seq) VALUES (620, $1)', [seq]);
    await until(() => received.length >= 10, '10 changes with no request in force');

    feed.askForAnnouncements(true);
    for (let seq = 10; seq < 20; seq += 1) await db.pool.query('INSERT INTO public.notes (writer, seq) VALUES (620, $1)', [seq]);
    await until(() => received.length >= 20, '20 changes');
    assert.ok((await requestedFor()) > 50, 'asked again for the next minute');
  } finally {
    await feed.stop();
  }
  assertCommitOrder(received, 1, 20);
});

test('a transaction too large for a notification is delivered from the log, in order', async () => {
  const feed = await collect();
  try {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      for (let seq = 0; seq < 120; seq += 1) await client.query('INSERT INTO public.notes (writer, seq, body) VALUES (200, $1, $2)', [seq, 'x'.repeat(300)]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await db.pool.query('INSERT INTO public.notes (writer, seq) VALUES (201, 0)');
    await until(() => feed.received.length >= 121, '121 changes');
  } finally {
    await feed.stop();
  }
  assert.equal(feed.received.length, 121, 'every change once');
  for (let i = 1; i < feed.received.length; i += 1) assert.equal(feed.received[i]!.position, feed.received[i - 1]!.position + 1, `dense at ${i}`);
  assert.deepEqual(
    feed.received.map((change) => (change.new as { seq: number }).seq),
    [...Array.from({ length: 120 }, (_, seq) => seq), 0],
    'in commit order',
  );
});

test('a row marked at_commit outside READ COMMITTED is unmarked at commit and numbered as an unannounced change', async () => {
  const fresh = await createTestDatabase({ migrated: true });
  try {
    await fresh.pool.query('CREATE TABLE public.marks (id bigserial PRIMARY KEY, body text)');
    await subscribe(fresh.pool, { table: parseTableName('public.marks') });
    // A capture function that marks its rows whatever the isolation level (`subscribe` marks them only under READ COMMITTED).
    const {
      rows: [definition],
    } = await fresh.pool.query<{ text: string }>("SELECT pg_get_functiondef('realtime.notify_public_marks'::regproc) AS text");
    const isolated = "(current_setting('synchronous_commit') <> 'off' AND current_setting('transaction_isolation') = 'read committed')";
    assert.ok(definition?.text.includes(isolated));
    await fresh.pool.query(definition!.text.replace(isolated, "current_setting('synchronous_commit') <> 'off'"));

    await fresh.pool.query("UPDATE realtime.capture_state SET announce_until = now() + interval '1 minute'");
    const client = await fresh.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await client.query("INSERT INTO public.marks (body) VALUES ('repeatable')");
      await client.query('COMMIT');
      await client.query("INSERT INTO public.marks (body) VALUES ('read committed')");
    } finally {
      client.release();
    }
    const logged = await fresh.pool.query<{ body: string; at_commit: boolean; position: string | null }>(
      "SELECT new_record->>'body' AS body, at_commit, position FROM realtime.changes ORDER BY id",
    );
    // No sequencing round ran: the second commit numbered the waiting change first, then its own.
    assert.deepEqual(
      logged.rows.map((row) => [row.body, row.at_commit, row.position]),
      [
        ['repeatable', false, '1'],
        ['read committed', true, '2'],
      ],
    );
    assert.equal(await currentPosition(fresh.pool), 2);
  } finally {
    await fresh.drop();
  }
});
