// The `realtime:broadcast` notification of a carried append: on a public channel the message itself, signed with a key no other role can read, read as a read of the log reads it (exact digits, time, binary); only its place when it is too large, not asked for, or on a private channel.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import {
  BROADCAST_NOTIFY_CHANNEL,
  carriedMessage as messageOf,
  createChannel,
  loadNoteKeys,
  NoteKeys,
  parseExactJson,
  readLogPage,
  stringifyExact,
  type BroadcastNote,
  type Channel,
  type Message,
} from '@nself/db';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait.js';

let db: TestDatabase;
let listener: pg.Client;
let channel: Channel;
let vault: Channel;
let keys: NoteKeys;
const notes: BroadcastNote[] = [];
/** Each note's text as sent, which its MAC covers. */
const texts = new WeakMap<BroadcastNote, string>();
const outsider = `rt_outsider_${randomBytes(4).toString('hex')}`;
const password = randomBytes(12).toString('hex');

/** The message a note carries, when its signature verifies. */
function carriedMessage(note: BroadcastNote): Message | undefined {
  return keys.verifies(texts.get(note) ?? '', note) ? messageOf(note) : undefined;
}

before(async () => {
  db = await createTestDatabase({ migrated: true });
  channel = await createChannel(db.pool, { name: 'carried', type: 'public' });
  vault = await createChannel(db.pool, { name: 'carried-vault', type: 'private' });
  keys = await loadNoteKeys(db.pool);
  await db.pool.query(`CREATE ROLE ${outsider} LOGIN PASSWORD '${password}'`);
  listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  listener.on('notification', (notification) => {
    if (notification.channel !== BROADCAST_NOTIFY_CHANNEL) return;
    const note = parseExactJson(notification.payload ?? 'null') as BroadcastNote;
    texts.set(note, notification.payload ?? '');
    notes.push(note);
  });
  await listener.query(`LISTEN ${pg.escapeIdentifier(BROADCAST_NOTIFY_CHANNEL)}`);
});

after(async () => {
  await listener?.end();
  await db?.pool.query(`DROP ROLE IF EXISTS ${outsider}`);
  await db?.drop();
});

/** Appends one message through realtime.append_messages from a session in another time zone; the payload is given as JSON text, so its digits reach PostgreSQL as written. */
async function append(payloadText: string | null, carry: boolean, binary: Buffer | null = null, channelId = channel.id): Promise<BroadcastNote> {
  const id = randomUUID();
  const writer = new pg.Client({ connectionString: db.url });
  await writer.connect();
  try {
    await writer.query("SET TimeZone = 'Asia/Kolkata'");
    await writer.query('SELECT realtime.append_messages($1, ARRAY[$2]::uuid[], ARRAY[$3], ARRAY[$4]::jsonb[], ARRAY[NULL::text], ARRAY[$5]::bytea[], $6)', [
      channelId,
      id,
      'ledger',
      payloadText,
      binary,
      carry,
    ]);
  } finally {
    await writer.end();
  }
  await waitFor(() => notes.some((note) => note.id === id), 'the notification');
  return notes.find((note) => note.id === id) as BroadcastNote;
}

async function readBack(offset: number) {
  const page = await readLogPage(db.pool, channel.id, { afterOffset: offset - 1, limit: 1 });
  return page.messages[0];
}

test('a carried message is the message a read of the log gives: exact digits, the same time, the same frame text', async () => {
  const note = await append('{"id": 9007199254740993, "amount": 12345678901234567890.123456789, "ratio": 0.1, "b": [1.50, "\\u00e9"], "a": null}', true);
  const carried = carriedMessage(note);
  const stored = await readBack(note.offset);
  assert.ok(carried, `a message in ${JSON.stringify(note)}`);
  assert.deepEqual(carried, stored);
  assert.equal(stringifyExact(carried.payload), stringifyExact(stored?.payload));
  assert.match(stringifyExact(carried.payload), /"id":9007199254740993[,}]/);
  assert.equal(carried.sentAt.getTime(), stored?.sentAt.getTime());
});

test('a binary payload is carried in base64 and comes back byte for byte', async () => {
  const bytes = Buffer.from(Array.from({ length: 300 }, (_, index) => index % 256));
  const note = await append(null, true, bytes);
  const carried = carriedMessage(note);
  assert.ok(carried);
  assert.deepEqual(carried, await readBack(note.offset));
  assert.ok(carried.payloadBinary?.equals(bytes));
});

test('a message whose notification would pass 7,000 bytes, and an append that did not ask, are announced by their place only', async () => {
  const large = await append(JSON.stringify({ text: 'x'.repeat(6_900) }), true);
  assert.deepEqual(Object.keys(large).sort(), ['channel_id', 'id', 'key', 'mac', 'offset']);
  const escaped = await append(JSON.stringify({ text: '\u0001'.repeat(1_500) }), true); // 1,500 bytes stored, 9,000 once escaped
  assert.deepEqual(Object.keys(escaped).sort(), ['channel_id', 'id', 'key', 'mac', 'offset']);
  const plain = await append('{"small": true}', false);
  assert.deepEqual(Object.keys(plain).sort(), ['channel_id', 'id', 'key', 'mac', 'offset']);
  assert.equal(carriedMessage(plain), undefined);
  const fits = await append(JSON.stringify({ text: 'x'.repeat(6_000) }), true);
  assert.ok(carriedMessage(fits), 'a payload of 6,000 bytes still fits');
});

test('realtime.send and realtime.broadcast from SQL keep the notification that says where the message is, signed', async () => {
  const before = notes.length;
  await db.pool.query("SELECT realtime.send('{\"n\": 1}'::jsonb, 'sql', 'carried', false)");
  await db.pool.query("SELECT realtime.broadcast('carried', 'sql', '{\"n\": 2}'::jsonb)");
  await waitFor(() => notes.length >= before + 2, 'the notifications');
  for (const note of notes.slice(before)) {
    assert.deepEqual(Object.keys(note).sort(), ['channel_id', 'id', 'key', 'mac', 'offset']);
    assert.ok(keys.verifies(texts.get(note) ?? '', note), 'a position is signed too, so no login can make one up');
  }
});

test('the MAC covers the place and the whole message: a note copied to another offset or channel, or with any character changed, does not verify', async () => {
  const note = await append('{"n": 1}', true);
  assert.deepEqual(Object.keys(note).sort(), ['channel_id', 'id', 'key', 'mac', 'message', 'offset']);
  assert.ok(carriedMessage(note));
  const text = texts.get(note) as string;
  const changes: Array<[string, (text: string) => string]> = [
    ['offset', (t) => t.replace(`"offset" : ${note.offset},`, `"offset" : ${note.offset + 1},`)],
    ['channel', (t) => t.replace(note.channel_id, vault.id)],
    ['id', (t) => t.replace(note.id, randomUUID())],
    ['key', (t) => t.replace('"key" : 1,', '"key" : 2,')],
    ['payload', (t) => t.replace('{"n": 1}', '{"n": 2}')],
    ['event', (t) => t.replace('"event" : "ledger"', '"event" : "other"')],
    ['sender', (t) => t.replace('"sender" : null', '"sender" : "someone"')],
    ['time', (t) => t.replace(/"sent_at" : "[^"]+"/, '"sent_at" : "2026-01-01 00:00:00.000000+00"')],
    ['spacing', (t) => t.replace('"offset" : ', '"offset": ')],
    ['mac', (t) => t.replace(/^\{"mac":"./, (start) => `${start.slice(0, -1)}${start.endsWith('0') ? '1' : '0'}`)],
  ];
  for (const [what, change] of changes) {
    const changed = change(text);
    assert.notEqual(changed, text, `the ${what} was changed`);
    assert.equal(keys.verifies(changed, parseExactJson(changed) as BroadcastNote), false, `changed ${what}: ${changed}`);
  }
  assert.equal(new NoteKeys(new Map([[1, randomBytes(32)]])).verifies(text, note), false, 'another database’s key');
});

test('a private channel’s notifications never carry its messages', async () => {
  const note = await append('{"secret": "vault-secret"}', true, null, vault.id);
  assert.deepEqual(Object.keys(note).sort(), ['channel_id', 'id', 'key', 'mac', 'offset']);
});

test('every server on the database checks with the same key; a login other than the schema owner can neither read it nor carry', async () => {
  const again = await loadNoteKeys(db.pool);
  const signed = await append('{"n": 3}', true);
  assert.ok(again.verifies(texts.get(signed) ?? '', signed), 'a second server verifies the first one’s notes');
  const { rows } = await db.pool.query<{ count: string }>('SELECT count(*) FROM realtime.broadcast_note_keys');
  assert.equal(rows[0]?.count, '1');
  const url = new URL(db.url);
  url.username = outsider;
  url.password = password;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await assert.rejects(client.query('SELECT secret FROM realtime.broadcast_note_keys'), { code: '42501' });
    await assert.rejects(client.query('DELETE FROM realtime.broadcast_note_keys'), { code: '42501' });
    await assert.rejects(
      client.query("SELECT realtime.append_messages($1, ARRAY[gen_random_uuid()], ARRAY['e'], ARRAY['{}'::jsonb], ARRAY[NULL::text], ARRAY[NULL::bytea], true)", [channel.id]),
      { code: '42501' },
    );
  } finally {
    await client.end();
  }
});
