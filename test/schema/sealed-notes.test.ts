// The `realtime:broadcast` notifications of a server's appends: the message sealed with a key no other role can read, opening to exactly what a read of the log gives, or only its place when it is too large or sent from SQL.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import {
  BROADCAST_NOTIFY_CHANNEL,
  createChannel,
  loadNoteSeal,
  postgresBroadcastLog,
  readLogPage,
  stringifyExact,
  type BroadcastLog,
  type BroadcastNote,
  type Channel,
  type NoteSeal,
} from '@nself/db';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait.js';

let db: TestDatabase;
let listener: pg.Client;
let channel: Channel;
let seal: NoteSeal;
let log: BroadcastLog;
const notes: Array<{ text: string; note: BroadcastNote }> = [];
const outsider = `rt_outsider_${randomBytes(4).toString('hex')}`;
const password = randomBytes(12).toString('hex');

before(async () => {
  db = await createTestDatabase({ migrated: true });
  channel = await createChannel(db.pool, { name: 'sealed', type: 'public' });
  seal = await loadNoteSeal(db.pool);
  log = postgresBroadcastLog(db.pool, { seal });
  await db.pool.query(`CREATE ROLE ${outsider} LOGIN PASSWORD '${password}'`);
  listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  listener.on('notification', (notification) => {
    const text = notification.payload ?? 'null';
    if (notification.channel === BROADCAST_NOTIFY_CHANNEL) notes.push({ text, note: JSON.parse(text) as BroadcastNote });
  });
  await listener.query(`LISTEN ${pg.escapeIdentifier(BROADCAST_NOTIFY_CHANNEL)}`);
});

after(async () => {
  await listener?.end();
  await db?.pool.query(`DROP ROLE IF EXISTS ${outsider}`);
  await db?.drop();
});

/** Appends one message as a server does and returns its notification. */
async function append(payload: unknown, binary: Buffer | null = null): Promise<{ text: string; note: BroadcastNote }> {
  const id = randomUUID();
  await log.append(channel.id, [{ id, event: 'ledger', payload: binary ? null : payload, payloadBinary: binary, sender: 'user-7' }]);
  await waitFor(() => notes.some(({ note }) => note.id === id), 'the notification');
  return notes.find(({ note }) => note.id === id) as { text: string; note: BroadcastNote };
}

async function readBack(offset: number) {
  const page = await readLogPage(db.pool, channel.id, { afterOffset: offset - 1, limit: 1 });
  return page.messages[0];
}

test("a sealed message opens to the message a read of the log gives (PostgreSQL's key order, the same time), and its text is not in the note", async () => {
  const { text, note } = await append({ zebra: 'secret-zebra', a: [1.5, 'é', null], ratio: 0.1, nested: { b: 2, a: 1 } });
  assert.deepEqual(Object.keys(note).sort(), ['channel_id', 'id', 'key', 'offset', 'sealed']);
  for (const clear of ['secret-zebra', 'ledger', 'user-7', 'ratio']) assert.ok(!text.includes(clear), `"${clear}" is not in the note`);
  const opened = seal.open(note);
  assert.ok(opened.carried && opened.message, `the note opens: ${text}`);
  const stored = await readBack(note.offset);
  assert.deepEqual(opened.message, stored);
  assert.equal(stringifyExact(opened.message.payload), stringifyExact(stored?.payload), 'the same JSON text, key order included');
  assert.equal(opened.message.sentAt.getTime(), stored?.sentAt.getTime());
});

test('a binary payload comes back byte for byte', async () => {
  const bytes = Buffer.from(Array.from({ length: 300 }, (_, index) => index % 256));
  const { note } = await append(null, bytes);
  const opened = seal.open(note);
  assert.ok(opened.carried && opened.message);
  assert.deepEqual(opened.message, await readBack(note.offset));
  assert.ok(opened.message.payloadBinary?.equals(bytes));
});

test('another server on the same database seals and opens with the same key; a note sealed with another key does not open', async () => {
  const second = await loadNoteSeal(db.pool);
  const { note } = await append({ from: 'first' });
  const opened = second.open(note);
  assert.ok(opened.carried && opened.message, 'the second server opens the first one’s note');
  const { rows } = await db.pool.query<{ count: string }>('SELECT count(*) FROM realtime.broadcast_note_keys');
  assert.equal(rows[0]?.count, '1', 'one key for the database');
  const { NoteSeal: Seal } = await import('@nself/db');
  const stranger = new Seal(new Map([[1, randomBytes(32)]]));
  assert.deepEqual(stranger.open(note), { carried: true, message: undefined });
});

test('a message whose sealed note would pass 7,000 bytes is announced by its place only; 4,000 bytes still fit', async () => {
  const { note: large } = await append({ text: 'x'.repeat(5_500) });
  assert.deepEqual(Object.keys(large).sort(), ['channel_id', 'id', 'offset']);
  const { note: escaped } = await append({ text: '\u0001'.repeat(1_500) }); // 1,500 bytes stored, 9,000 as jsonb text
  assert.deepEqual(Object.keys(escaped).sort(), ['channel_id', 'id', 'offset']);
  const { note: fits, text } = await append({ text: 'x'.repeat(4_000) });
  assert.ok(seal.open(fits).carried, 'a payload of 4,000 bytes is carried');
  assert.ok(Buffer.byteLength(text) < 7_000);
});

test('a batch that fails sends no notification; the messages before and after it are announced once each', async () => {
  const before = notes.length;
  await assert.rejects(
    log.append(channel.id, [
      { id: randomUUID(), event: 'ok', payload: { n: 1 } },
      { id: randomUUID(), event: 'too large', payload: { text: 'x'.repeat(300_000) } },
    ]),
  );
  const { note } = await append({ n: 2 });
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(
    notes.slice(before).map((entry) => entry.note.id),
    [note.id],
  );
});

test('a login other than the schema owner can neither read the key nor append unannounced', async () => {
  const url = new URL(db.url);
  url.username = outsider;
  url.password = password;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await assert.rejects(client.query('SELECT secret FROM realtime.broadcast_note_keys'), { code: '42501' });
    await assert.rejects(client.query('DELETE FROM realtime.broadcast_note_keys'), { code: '42501' });
    await assert.rejects(
      client.query("SELECT realtime.append_messages($1, ARRAY[gen_random_uuid()], ARRAY['e'], ARRAY['{}'::jsonb], ARRAY[NULL::text], ARRAY[NULL::bytea], false)", [channel.id]),
      { code: '42501' },
    );
  } finally {
    await client.end();
  }
});

test('realtime.send and realtime.broadcast from SQL keep the notification that says where the message is', async () => {
  const before = notes.length;
  await db.pool.query("SELECT realtime.send('{\"n\": 1}'::jsonb, 'sql', 'sealed', false)");
  await db.pool.query("SELECT realtime.broadcast('sealed', 'sql', '{\"n\": 2}'::jsonb)");
  await waitFor(() => notes.length >= before + 2, 'the notifications');
  for (const { note } of notes.slice(before)) assert.deepEqual(Object.keys(note).sort(), ['channel_id', 'id', 'offset']);
});
