// REALTIME_BROADCAST_NOTIFY_PAYLOADS (on by default): two servers on one database, each delivering the other's public broadcasts from their signed notifications (no read of the log), in order, framed as its own, under the same access checks, and nothing a database login NOTIFYs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import pg from 'pg';
import { addMember, BROADCAST_NOTIFY_CHANNEL, createChannel, removeMember, type BroadcastNote, type Channel } from '@nself/db';
import { adminUrl } from '../helpers/database.js';
import type { RunningServer } from '@nself/server';
import { RawClient, type Frame } from './raw-client.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { startTestServer, useTestServer } from '../helpers/server.js';

let other: RunningServer;
let anonKey: string;
const spy = `rt_note_spy_${randomBytes(4).toString('hex')}`;
const password = randomBytes(12).toString('hex');
const env = useTestServer({ jwtSecret: JWT_SECRET }, async (db) => {
  other = await startTestServer(db, { jwtSecret: JWT_SECRET });
  anonKey = await token(undefined, { role: 'anon' });
  await db.pool.query(`CREATE ROLE ${spy} LOGIN PASSWORD '${password}'`);
});

after(async () => {
  await other?.close();
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${spy}`).finally(() => admin.end());
});

/** The value of counter `name` in a server's /metrics. */
async function counter(server: RunningServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((entry) => entry.startsWith(`${name} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function rawJoin(server: RunningServer, topic: string, user?: string, isPrivate = false): Promise<RawClient> {
  const raw = await RawClient.open(server, `vsn=2.0.0&apikey=${anonKey}`);
  const reply = await raw.join(`realtime:${topic}`, '1', { private: isPrivate, broadcast: { self: true, ack: false } }, user ? { access_token: await token(user) } : {});
  assert.equal((reply[4] as { status: string }).status, 'ok', `joining ${topic}: ${JSON.stringify(reply)}`);
  return raw;
}

/** The `n` of each broadcast payload a client received, in order. */
const receivedN = (raw: RawClient) => raw.frames.filter((frame) => frame[3] === 'broadcast').map((frame) => (frame[4]['payload'] as { n?: unknown }).n);

/** A private channel whose members are alice and bob. */
async function aliceAndBobs(name: string): Promise<Channel> {
  const vault = await createChannel(env.db.pool, { name, type: 'private' });
  for (const userId of ['alice', 'bob']) await addMember(env.db.pool, { channelId: vault.id, userId });
  return vault;
}

const broadcastTexts = (raw: RawClient) => raw.texts.filter((text) => text.includes('"broadcast"') && !text.includes('phx_reply'));

test("each server delivers the other's broadcasts from their notifications, in order, in frames the same byte for byte as the sender's server sends", async () => {
  const sender = await rawJoin(env.server, 'carried-room');
  const receiver = await rawJoin(other, 'carried-room');
  try {
    const readsBefore = await counter(other, 'realtime_broadcast_log_reads_total');
    const carriedBefore = await counter(other, 'realtime_broadcasts_carried_total');
    const count = 40;
    for (let index = 0; index < count; index++) {
      sender.send([null, null, 'realtime:carried-room', 'broadcast', { type: 'broadcast', event: 'tick', payload: { index, b: 'b', a: [1.5, 'é', null] } }]);
    }
    await waitFor(() => broadcastTexts(receiver).length === count && broadcastTexts(sender).length === count, 'every broadcast at both clients', 10_000);
    assert.deepEqual(broadcastTexts(receiver), broadcastTexts(sender), "the other server's frames are the sender's server's");
    const indexes = receiver.frames.filter((frame: Frame) => frame[3] === 'broadcast').map((frame) => (frame[4]['payload'] as { index: number }).index);
    assert.deepEqual(
      indexes,
      Array.from({ length: count }, (_, index) => index),
    );
    assert.equal((await counter(other, 'realtime_broadcasts_carried_total')) - carriedBefore, count, 'every one taken from its notification');
    assert.equal(await counter(other, 'realtime_broadcast_log_reads_total'), readsBefore, 'none read back');
  } finally {
    await sender.close();
    await receiver.close();
  }
});

test('a large broadcast, whose notification cannot carry it, is read back, and delivery goes on in order', async () => {
  const sender = await rawJoin(env.server, 'carried-large');
  const receiver = await rawJoin(other, 'carried-large');
  try {
    const readsBefore = await counter(other, 'realtime_broadcast_log_reads_total');
    for (const text of ['small', 'x'.repeat(9_000), 'small again']) {
      sender.send([null, null, 'realtime:carried-large', 'broadcast', { type: 'broadcast', event: 'note', payload: { text } }]);
    }
    await waitFor(() => broadcastTexts(receiver).length === 3, 'the three broadcasts');
    assert.deepEqual(broadcastTexts(receiver), broadcastTexts(sender));
    assert.ok((await counter(other, 'realtime_broadcast_log_reads_total')) > readsBefore, 'the large one was read');
  } finally {
    await sender.close();
    await receiver.close();
  }
});

test('a member removed from a private channel gets nothing sent after the removal, whichever server stored it', async () => {
  const vault = await aliceAndBobs('carried-vault');
  const bob = await rawJoin(env.server, 'carried-vault', 'bob', true);
  const alice = await rawJoin(other, 'carried-vault', 'alice', true);
  const send = (n: number) => bob.send([null, null, 'realtime:carried-vault', 'broadcast', { type: 'broadcast', event: 'note', payload: { n } }]);
  try {
    send(1);
    await waitFor(() => receivedN(alice).length === 1, 'alice receiving the first note');
    await removeMember(env.db.pool, vault, 'alice');
    send(2);
    await waitFor(() => receivedN(bob).length === 2, 'bob receiving the second note');
    await waitFor(() => alice.frames.some((frame) => frame[3] === 'phx_close'), "alice's channel closed");
    await sleep(300);
    assert.deepEqual(receivedN(alice), [1], 'nothing after the removal');
  } finally {
    await alice.close();
    await bob.close();
  }
});

test('a database login that LISTENs reads no private message, and what it NOTIFYs (a genuine note copied ahead, a made-up message, a bad signature) delivers nothing', async () => {
  await aliceAndBobs('signed-vault');
  const bobInVault = await rawJoin(env.server, 'signed-vault', 'bob', true);
  const sender = await rawJoin(env.server, 'signed-lobby');
  const receiver = await rawJoin(other, 'signed-lobby');
  const url = new URL(env.db.url);
  url.username = spy;
  url.password = password;
  const login = new pg.Client({ connectionString: url.toString() });
  await login.connect();
  const heard: string[] = [];
  login.on('notification', (note) => heard.push(note.payload ?? ''));
  await login.query(`LISTEN ${pg.escapeIdentifier(BROADCAST_NOTIFY_CHANNEL)}`);
  const send = (n: number) => sender.send([null, null, 'realtime:signed-lobby', 'broadcast', { type: 'broadcast', event: 'memo', payload: { n } }]);
  try {
    bobInVault.send([null, null, 'realtime:signed-vault', 'broadcast', { type: 'broadcast', event: 'memo', payload: { secret: 'vault-secret-789' } }]);
    await waitFor(() => heard.length === 1, "the vault message's note at the login");
    assert.deepEqual(
      Object.keys(JSON.parse(heard[0] as string) as object).sort(),
      ['channel_id', 'id', 'key', 'mac', 'offset'],
      `a private channel's note says where, not what: ${heard[0]}`,
    );

    const refusedBefore = await counter(other, 'realtime_broadcast_notes_refused_total');
    send(1);
    await waitFor(() => receivedN(receiver).length === 1 && heard.length === 2, 'the first memo at the other server, and its note at the login');
    const genuine = JSON.parse(heard[1] as string) as BroadcastNote;
    assert.equal(typeof genuine.mac, 'string', 'a public channel’s note carries its message, signed');
    const inject = (note: object) => login.query('SELECT pg_notify($1, $2)', [BROADCAST_NOTIFY_CHANNEL, JSON.stringify(note)]);
    await inject({ ...genuine, offset: genuine.offset + 1 });
    await inject({ ...genuine, offset: genuine.offset + 2, mac: undefined, message: { ...genuine.message, payload: '{"n": "made up"}' } });
    await inject({ ...genuine, offset: genuine.offset + 3, mac: randomBytes(32).toString('hex') });
    await waitFor(async () => (await counter(other, 'realtime_broadcast_notes_refused_total')) - refusedBefore === 3, 'the three notes refused');
    send(2);
    send(3);
    await waitFor(() => receivedN(receiver).length >= 3 && receivedN(sender).length === 3, 'the real memos');
    await sleep(200);
    assert.deepEqual(receivedN(receiver), [1, 2, 3], 'only what was sent, once each');
  } finally {
    await login.end();
    await bobInVault.close();
    await sender.close();
    await receiver.close();
  }
});
