// Logical replication through pgoutput: the message decoder, and a replication stream against a real PostgreSQL.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test, type TestContext } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { decodePgOutput, formatLsn, parseLsn, UNCHANGED_TOAST, type Lsn, type PgOutputMessage } from '../../packages/db/src/capture/wal/pgoutput.js';
import { ReplicationStream } from '../../packages/db/src/capture/wal/replication-stream.js';

const PUBLICATION = 'wal_stream_all';
let db: TestDatabase;
let logical = false;
let slotCount = 0;

before(async () => {
  db = await createTestDatabase();
  const { rows } = await db.pool.query<{ wal_level: string }>('SHOW wal_level');
  logical = rows[0]?.wal_level === 'logical';
  await db.pool.query(`CREATE PUBLICATION ${PUBLICATION} FOR ALL TABLES`);
  await db.pool.query(`
    CREATE TABLE public.items (id int PRIMARY KEY, label text, at timestamptz, doc jsonb, note text, big text);
    ALTER TABLE public.items ALTER COLUMN big SET STORAGE EXTERNAL;
    CREATE TABLE public.logs (id int, body text);
    ALTER TABLE public.logs REPLICA IDENTITY FULL;
    CREATE TABLE public.events (id int PRIMARY KEY)`);
});

after(async () => {
  // A database with a replication slot cannot be dropped, and the slot would hold WAL forever.
  const { rows } = await db.pool.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots WHERE database = current_database()');
  for (const { slot_name } of rows) await dropSlot(slot_name);
  await db.drop();
});

/** A new slot of this database, at the current end of WAL, dropped when the test ends. */
async function createSlot(t: TestContext): Promise<string> {
  const slot = `${new URL(db.url).pathname.slice(1)}_${++slotCount}`;
  await db.pool.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
  t.after(() => dropSlot(slot));
  return slot;
}

async function dropSlot(slot: string): Promise<void> {
  await db.pool.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slot]);
  for (let attempt = 0; ; attempt++) {
    try {
      await db.pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '55006' || attempt > 100) throw error;
      await sleep(50); // the terminated walsender has not released it yet
    }
  }
}

/** A stream on the test database that records what it receives, closed when the test ends. */
async function openStream(t: TestContext) {
  const stream = await ReplicationStream.connect({ connection: { connectionString: db.url } });
  t.after(() => stream.close());
  const received: { message: PgOutputMessage; walStart: Lsn }[] = [];
  const keepalives: Lsn[] = [];
  const start = (slot: string, startLsn = 0n) =>
    stream.start({
      slot,
      publication: PUBLICATION,
      startLsn,
      onMessage: (message, walStart) => {
        received.push({ message, walStart });
      },
      onKeepalive: (walEnd) => {
        keepalives.push(walEnd);
      },
    });
  return { stream, received, keepalives, start };
}

/** Waits until `ready` holds (5 s at most). */
async function until(ready: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 5_000; !ready(); await sleep(20)) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
  }
}

function messagesOf<T extends PgOutputMessage['tag']>(received: { message: PgOutputMessage }[], tag: T) {
  return received.map((r) => r.message).filter((m): m is Extract<PgOutputMessage, { tag: T }> => m.tag === tag);
}

function skipUnlessLogical(t: TestContext): boolean {
  if (!logical) t.skip('wal_level is not logical');
  return !logical;
}

test('formatLsn and parseLsn round trip, as PostgreSQL prints positions', async () => {
  assert.equal(formatLsn(0n), '0/0');
  assert.equal(formatLsn(0x16b3748n), '0/16B3748');
  assert.equal(formatLsn((0xabn << 32n) | 0xcdefn), 'AB/CDEF');
  assert.equal(parseLsn('ab/cdef'), (0xabn << 32n) | 0xcdefn);
  assert.equal(parseLsn('FFFFFFFF/FFFFFFFF'), 2n ** 64n - 1n);
  const { rows } = await db.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const current = rows[0]!.lsn;
  assert.equal(formatLsn(parseLsn(current)), current);
  for (const bad of ['', '0', '1/2/3', 'G/0', '123456789/0', ' 0/0', '0/-1']) {
    assert.throws(() => parseLsn(bad), /not a WAL position/, bad);
  }
});

test('decodePgOutput throws an error naming the tag on garbage', () => {
  assert.throws(() => decodePgOutput(Buffer.alloc(0)), /empty pgoutput message/);
  assert.throws(() => decodePgOutput(Buffer.from('Zgarbage')), /pgoutput message 'Z': unknown message tag/);
  assert.throws(() => decodePgOutput(Buffer.from([0x00, 0x01])), /pgoutput message '\\x00': unknown message tag/);
  assert.throws(() => decodePgOutput(Buffer.from([0x49, 0, 0, 0])), /pgoutput message 'I': truncated/);
  const insert = (value: number[]) => Buffer.from([0x49, 0, 0, 0x40, 0x01, 0x4e, 0, 1, ...value]);
  assert.deepEqual(decodePgOutput(insert([0x74, 0, 0, 0, 2, 0x68, 0x69])), { tag: 'insert', relationId: 0x4001, new: ['hi'] });
  assert.throws(() => decodePgOutput(insert([0x74, 0, 0, 0, 9, 0x68])), /pgoutput message 'I': truncated/);
  assert.throws(() => decodePgOutput(insert([0x62, 0, 0, 0, 1, 0x01])), /pgoutput message 'I': binary column value/);
  assert.throws(() => decodePgOutput(insert([0x6e, 0x6e])), /pgoutput message 'I': 1 bytes left over/);
  assert.throws(() => decodePgOutput(Buffer.from([0x44, 0, 0, 0, 1, 0x4e, 0, 0])), /pgoutput message 'D': expected 'K' or 'O', found 'N'/);
});

test('inserts, updates, deletes and truncates arrive as text values between begin and commit', async (t) => {
  if (skipUnlessLogical(t)) return;
  const slot = await createSlot(t);
  const { stream, received, start } = await openStream(t);
  const settings = await stream.query<{ TimeZone: string }>('SHOW TimeZone');
  assert.deepEqual(settings, [{ TimeZone: 'UTC' }]);
  await start(slot);

  const big = Array.from({ length: 100 }, (_, i) => i.toString(36).padStart(30, '*')).join('');
  const writer = await db.pool.connect();
  let xid: string;
  try {
    await writer.query('BEGIN');
    await writer.query(`INSERT INTO public.items VALUES (1, 'first', '2024-05-06 07:08:09.123456+02', '{"b": [1, 2], "a": "é"}', NULL, $1)`, [big]);
    xid = (await writer.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid')).rows[0]!.xid;
    await writer.query('COMMIT');
  } finally {
    writer.release();
  }
  await db.pool.query("UPDATE public.items SET label = 'second' WHERE id = 1");
  await db.pool.query('UPDATE public.items SET id = 2 WHERE id = 1');
  await db.pool.query('DELETE FROM public.items WHERE id = 2');
  await db.pool.query('TRUNCATE public.items, public.events RESTART IDENTITY CASCADE');
  const {
    rows: [current],
  } = await db.pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  await until(() => messagesOf(received, 'commit').length === 5, 'five commits');

  const [relation] = messagesOf(received, 'relation');
  assert.ok(relation);
  assert.deepEqual(
    { ...relation, columns: relation.columns.map((c) => [c.name, c.typeOid, c.typeModifier, c.isKey]) },
    {
      tag: 'relation',
      relationId: relation.relationId,
      schema: 'public',
      name: 'items',
      replicaIdentity: 'd',
      columns: [
        ['id', 23, -1, true],
        ['label', 25, -1, false],
        ['at', 1184, -1, false],
        ['doc', 3802, -1, false],
        ['note', 25, -1, false],
        ['big', 25, -1, false],
      ],
    },
  );
  const id = relation.relationId;
  const at = '2024-05-06 05:08:09.123456+00';
  const doc = '{"a": "é", "b": [1, 2]}';
  const events = messagesOf(received, 'relation').find((r) => r.name === 'events');
  assert.ok(events);
  const changes = received.map((r) => r.message).filter((m) => m.tag !== 'begin' && m.tag !== 'commit' && m.tag !== 'relation');
  assert.deepEqual(changes, [
    { tag: 'insert', relationId: id, new: ['1', 'first', at, doc, null, big] },
    { tag: 'update', relationId: id, key: null, old: null, new: ['1', 'second', at, doc, null, UNCHANGED_TOAST] },
    { tag: 'update', relationId: id, key: ['1', null, null, null, null, null], old: null, new: ['2', 'second', at, doc, null, UNCHANGED_TOAST] },
    { tag: 'delete', relationId: id, key: ['2', null, null, null, null, null], old: null },
    { tag: 'truncate', relationIds: [id, events.relationId], cascade: true, restartIdentity: true },
  ]);

  const begins = received.filter((r) => r.message.tag === 'begin');
  const commits = received.filter((r) => r.message.tag === 'commit');
  assert.equal(begins.length, 5);
  for (const [index, { message: begin }] of begins.entries()) {
    const { message: commit, walStart } = commits[index]!;
    assert.ok(begin.tag === 'begin' && commit.tag === 'commit');
    assert.equal(begin.finalLsn, commit.commitLsn, 'begin announces the commit record');
    assert.ok(commit.endLsn > commit.commitLsn);
    assert.equal(walStart, commit.endLsn, "a commit's XLogData starts at the end of the commit record");
    assert.ok(commit.endLsn <= parseLsn(current!.lsn));
    assert.equal(begin.commitTime.getTime(), commit.commitTime.getTime());
    assert.ok(Math.abs(commit.commitTime.getTime() - Date.now()) < 30_000, `commit time ${commit.commitTime.toISOString()} is now`);
  }
  assert.equal(String((begins[0]!.message as { xid: number }).xid), xid);
});

test('REPLICA IDENTITY FULL sends the whole old row with updates and deletes', async (t) => {
  if (skipUnlessLogical(t)) return;
  const slot = await createSlot(t);
  const { received, start } = await openStream(t);
  await start(slot);
  await db.pool.query("INSERT INTO public.logs VALUES (1, 'a'), (2, NULL)");
  await db.pool.query("UPDATE public.logs SET body = 'b' WHERE id = 1");
  await db.pool.query('DELETE FROM public.logs WHERE id = 2');
  await until(() => messagesOf(received, 'commit').length === 3, 'three commits');
  const [relation] = messagesOf(received, 'relation');
  assert.equal(relation?.replicaIdentity, 'f');
  assert.deepEqual(
    relation?.columns.map((c) => c.isKey),
    [true, true],
  );
  const id = relation.relationId;
  assert.deepEqual(
    [...messagesOf(received, 'update'), ...messagesOf(received, 'delete')],
    [
      { tag: 'update', relationId: id, key: null, old: ['1', 'a'], new: ['1', 'b'] },
      { tag: 'delete', relationId: id, key: null, old: ['2', null] },
    ],
  );
});

test('a new stream from 0n resumes after the confirmed position: unconfirmed transactions come again', async (t) => {
  if (skipUnlessLogical(t)) return;
  const slot = await createSlot(t);
  const first = await openStream(t);
  await first.start(slot);
  await db.pool.query('INSERT INTO public.events VALUES (10)');
  await db.pool.query('INSERT INTO public.events VALUES (11)');
  await until(() => messagesOf(first.received, 'commit').length === 2, 'two commits');
  const [confirmed] = messagesOf(first.received, 'commit');
  first.stream.confirm(confirmed!.endLsn);
  first.stream.confirm(confirmed!.commitLsn); // never backwards
  await first.stream.close();
  assert.equal(await first.stream.ended, undefined, 'close() ends the stream without an error');
  const { rows } = await db.pool.query<{ confirmed_flush_lsn: string; active: boolean }>(
    'SELECT confirmed_flush_lsn::text, active FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  assert.deepEqual(rows, [{ confirmed_flush_lsn: formatLsn(confirmed!.endLsn), active: false }], 'close() waits for the slot to be released');

  const second = await openStream(t);
  await second.start(slot);
  await until(() => messagesOf(second.received, 'commit').length === 1, 'the unconfirmed commit');
  await db.pool.query('INSERT INTO public.events VALUES (12)');
  await until(() => messagesOf(second.received, 'commit').length === 2, 'the new commit');
  assert.deepEqual(
    messagesOf(second.received, 'insert').map((m) => m.new),
    [['11'], ['12']],
  );
});

test('start() rejects with the server error: 55006 for a slot in use, 42704 for a missing slot; the connection stays usable', async (t) => {
  if (skipUnlessLogical(t)) return;
  const slot = await createSlot(t);
  const first = await openStream(t);
  await first.start(slot);
  const second = await openStream(t);
  await assert.rejects(second.start(slot), { code: '55006' });
  await assert.rejects(second.start(`${slot}_missing`), { code: '42704' });
  const system = await second.stream.query<{ systemid: string; dbname: string }>('IDENTIFY_SYSTEM');
  assert.equal(system[0]?.dbname, new URL(db.url).pathname.slice(1));
  await first.stream.close();
  await second.start(slot); // free again as soon as close() resolves
  await db.pool.query('INSERT INTO public.events VALUES (20)');
  await until(() => messagesOf(second.received, 'insert').length === 1, 'the insert');
});

test('pg_terminate_backend of the walsender resolves `ended` with the error', async (t) => {
  if (skipUnlessLogical(t)) return;
  const slot = await createSlot(t);
  const { stream, start } = await openStream(t);
  await start(slot);
  const { rows } = await db.pool.query<{ terminated: boolean }>('SELECT pg_terminate_backend(active_pid) AS terminated FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  assert.deepEqual(rows, [{ terminated: true }]);
  const error = await stream.ended;
  assert.ok(error instanceof Error);
  assert.equal((error as { code?: string }).code, '57P01', error.message);
});

test('a paused stream outlives wal_sender_timeout and delivers on resume', async (t) => {
  if (skipUnlessLogical(t)) return;
  const slot = await createSlot(t);
  const { stream, received, keepalives, start } = await openStream(t);
  assert.deepEqual(await stream.query('SHOW wal_sender_timeout'), [{ wal_sender_timeout: '5s' }]);
  await start(slot);
  const walsender = async () => (await db.pool.query<{ pid: number | null }>('SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1', [slot])).rows[0]?.pid;
  const pid = await walsender();
  assert.ok(pid);
  stream.pause();
  await db.pool.query('INSERT INTO public.events VALUES (30)');
  await sleep(7_000);
  assert.equal(await walsender(), pid, 'the walsender still streams after more than wal_sender_timeout');
  assert.equal(messagesOf(received, 'insert').length, 0, 'nothing read while paused');
  stream.resume();
  await db.pool.query('INSERT INTO public.events VALUES (31)');
  await until(() => messagesOf(received, 'insert').length === 2 && keepalives.length > 0, 'the inserts and a keepalive');
  assert.ok(keepalives.every((walEnd) => walEnd > 0n));
  let ended = false;
  void stream.ended.then(() => {
    ended = true;
  });
  await sleep(100);
  assert.equal(ended, false);
});
