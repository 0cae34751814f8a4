// Channel access follows membership live: removed members, channels made private or deleted, and names taken over by an operator.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { addMember, createChannel } from '@nself/db';
import { realtime } from '../helpers/cli.js';
import { RawClient, type Frame } from './raw-client.js';
import { subscribe, supabase } from './support.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { startTestServer, useTestServer } from '../helpers/server.js';

let anonKey: string;
const env = useTestServer({ jwtSecret: JWT_SECRET }, async () => {
  anonKey = await token(undefined, { role: 'anon' });
});

const cli = async (...args: string[]) => {
  const result = await realtime(args, { databaseUrl: env.db.url });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
};

/** A supabase-js client of `user` on a channel, recording what it sees. */
async function joinAs(user: string, name: string, config: { private?: boolean; presence?: boolean } = {}) {
  const client = supabase(env.server, { key: anonKey, accessToken: await token(user) });
  await client.realtime.setAuth();
  const seen = { notes: [] as unknown[], system: [] as Array<{ status: string; message: string }>, statuses: [] as string[], leaves: [] as string[] };
  const channel = client
    .channel(name, { config: { private: config.private ?? false, broadcast: { self: true }, presence: { key: user, enabled: config.presence ?? false } } })
    .on('broadcast', { event: 'note' }, (message) => seen.notes.push(message.payload))
    .on('system', {}, (payload: { status: string; message: string }) => seen.system.push(payload))
    .on('presence', { event: 'leave' }, ({ key }) => {
      seen.leaves.push(key);
    });
  const subscribed = new Promise<string>((resolve) =>
    channel.subscribe((status) => {
      seen.statuses.push(status);
      resolve(status);
    }),
  );
  assert.equal(await subscribed, 'SUBSCRIBED', `${user} subscribes to ${name}`);
  return { client, channel, seen };
}

/** A raw connection of `user` joined to `name`: every frame it gets is kept, to show that nothing follows the close. */
async function rawJoin(user: string, name: string, isPrivate: boolean): Promise<RawClient> {
  const raw = await RawClient.open(env.server, `vsn=2.0.0&apikey=${anonKey}`);
  const reply = await raw.join(`realtime:${name}`, '1', { private: isPrivate }, { access_token: await token(user) });
  assert.equal((reply[4] as { status: string }).status, 'ok', `${user} joins ${name} on a raw socket`);
  return raw;
}

const broadcastsOf = (raw: RawClient) => raw.frames.filter((frame) => frame[3] === 'broadcast');
const isClose = (frame: Frame) => frame[3] === 'phx_close';

async function restSend(user: string, name: string, payload: unknown): Promise<void> {
  const response = await fetch(`${env.server.url}/api/broadcast`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', apikey: anonKey, authorization: `Bearer ${await token(user)}` },
    body: JSON.stringify({ messages: [{ topic: name, event: 'note', payload, private: true }] }),
  });
  assert.equal(response.status, 202);
}

async function closeAll(...clients: Array<SupabaseClient | RawClient>): Promise<void> {
  for (const client of clients) {
    if (client instanceof RawClient) await client.close();
    else await client.removeAllChannels();
  }
}

test('a member removed with `channel leave` is closed out of the private channel at once, gets nothing after, and her presence leaves', async () => {
  const vault = await createChannel(env.db.pool, { name: 'vault', type: 'private' });
  await addMember(env.db.pool, { channelId: vault.id, userId: 'alice' });
  await addMember(env.db.pool, { channelId: vault.id, userId: 'bob' });
  const alice = await joinAs('alice', 'vault', { private: true, presence: true });
  const bob = await joinAs('bob', 'vault', { private: true, presence: true });
  const aliceRaw = await rawJoin('alice', 'vault', true);
  try {
    assert.equal(await alice.channel.track({ name: 'Alice' }), 'ok');
    await waitFor(() => 'alice' in bob.channel.presenceState(), 'bob seeing alice present');
    await cli('broadcast', 'vault', 'note', '{"n":1}');
    await waitFor(() => alice.seen.notes.length === 1 && broadcastsOf(aliceRaw).length === 1, 'alice receiving the first note');

    assert.match(await cli('channel', 'leave', 'vault', 'alice'), /Removed alice from channel "vault"/);
    const revoked = 'You no longer have permission to read from this Channel topic: vault';
    await waitFor(() => alice.seen.statuses.includes('CLOSED'), "alice's channel closed");
    assert.deepEqual(
      alice.seen.system.map(({ status, message }) => ({ status, message })),
      [{ status: 'error', message: revoked }],
    );
    const closed = await aliceRaw.expect(isClose, 'phx_close on the raw socket');
    const systemFrame = aliceRaw.frames.find((frame) => frame[3] === 'system');
    assert.deepEqual(systemFrame?.[4], { extension: 'system', status: 'error', message: revoked, channel: 'vault' });
    assert.ok(aliceRaw.frames.indexOf(systemFrame) < aliceRaw.frames.indexOf(closed), 'the system error comes before phx_close');
    await waitFor(() => bob.seen.leaves.includes('alice'), "bob seeing alice's presence leave");
    assert.equal('alice' in bob.channel.presenceState(), false);

    await cli('broadcast', 'vault', 'note', '{"n":2}');
    await restSend('bob', 'vault', { n: 3 });
    await waitFor(() => bob.seen.notes.length === 3, 'bob receiving all three notes');
    await sleep(300);
    assert.deepEqual(alice.seen.notes, [{ n: 1 }], 'alice receives nothing after her removal');
    assert.deepEqual(
      broadcastsOf(aliceRaw).map((frame) => (frame[4] as { payload: unknown }).payload),
      [{ n: 1 }],
    );
    assert.equal(aliceRaw.frames.at(-1), closed, "nothing follows phx_close on alice's socket");
  } finally {
    await closeAll(alice.client, bob.client, aliceRaw);
  }
});

test('a role change keeps the member joined; a message stored right after a removal, in its transaction or the next, never reaches the removed member', async () => {
  const den = await createChannel(env.db.pool, { name: 'den', type: 'private' });
  for (const userId of ['carol', 'dave']) await addMember(env.db.pool, { channelId: den.id, userId });
  const dave = await joinAs('dave', 'den', { private: true });
  const carolRaw = await rawJoin('carol', 'den', true);
  try {
    assert.match(await cli('channel', 'join', 'den', 'carol', 'admin'), /from member to admin/);
    await cli('broadcast', 'den', 'note', '{"n":1}');
    await waitFor(() => broadcastsOf(carolRaw).length === 1 && dave.seen.notes.length === 1, 'both receiving after the role change');

    const client = await env.db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`DELETE FROM realtime.channel_members WHERE channel_id = $1 AND user_id = 'carol'`, [den.id]);
      await client.query(`SELECT realtime.broadcast('den', 'note', '{"n":2}')`);
      await client.query('COMMIT');
      await client.query(`SELECT realtime.broadcast('den', 'note', '{"n":3}')`);
    } finally {
      client.release();
    }
    await carolRaw.expect(isClose, "carol's phx_close");
    await waitFor(() => dave.seen.notes.length === 3, 'dave receiving every note');
    await sleep(300);
    assert.deepEqual(
      broadcastsOf(carolRaw).map((frame) => (frame[4] as { payload: unknown }).payload),
      [{ n: 1 }],
    );
    assert.deepEqual(dave.seen.system, [], 'dave, still a member, was not closed');
  } finally {
    await closeAll(dave.client, carolRaw);
  }
});

test('a removal during a flood of sends from a member on the same server: nothing stored after it reaches the removed member', async () => {
  const flood = await createChannel(env.db.pool, { name: 'flood', type: 'private' });
  for (const userId of ['erin', 'frank']) await addMember(env.db.pool, { channelId: flood.id, userId });
  const erinRaw = await rawJoin('erin', 'flood', true);
  const frankRaw = await rawJoin('frank', 'flood', true);
  let sending = true;
  try {
    let sent = 0;
    const sender = (async () => {
      while (sending) {
        frankRaw.send([null, null, 'realtime:flood', 'broadcast', { type: 'broadcast', event: 'note', payload: { n: sent++ } }]);
        await sleep(1);
      }
    })();
    await waitFor(() => broadcastsOf(erinRaw).length > 20, 'erin receiving the flood');
    await env.db.pool.query(`DELETE FROM realtime.channel_members WHERE channel_id = $1 AND user_id = 'erin'`, [flood.id]);
    // Every offset above this one was stored after the removal had committed.
    const { rows } = await env.db.pool.query<{ last_offset: string }>('SELECT last_offset FROM realtime.channels WHERE id = $1', [flood.id]);
    const removedAt = Number(rows[0]?.last_offset);
    await erinRaw.expect(isClose, "erin's phx_close");
    await sleep(200);
    sending = false;
    await sender;
    const offsets = broadcastsOf(erinRaw).map((frame) => (frame[4] as { meta: { offset: number } }).meta.offset);
    assert.ok(offsets.length > 0 && offsets.every((offset) => offset <= removedAt), `erin got offsets up to ${Math.max(...offsets)}, the removal was at ${removedAt}`);
    const stored = await env.db.pool.query<{ last: string }>('SELECT max(channel_offset) AS last FROM realtime.messages WHERE channel_id = $1', [flood.id]);
    assert.ok(Number(stored.rows[0]?.last) > removedAt, 'the flood went on being stored after the removal');
  } finally {
    sending = false;
    await closeAll(erinRaw, frankRaw);
  }
});

test('a non-member joined to a public channel that is made private is closed; a member stays and keeps receiving', async () => {
  const gina = await joinAs('gina', 'plaza');
  const hank = await joinAs('hank', 'plaza');
  try {
    const plaza = await env.db.pool.query<{ id: string }>(`SELECT id FROM realtime.channels WHERE slug = 'plaza'`);
    await addMember(env.db.pool, { channelId: plaza.rows[0]?.id ?? '', userId: 'gina' });
    await env.db.pool.query(`UPDATE realtime.channels SET type = 'private' WHERE slug = 'plaza'`);
    await waitFor(() => hank.seen.statuses.includes('CLOSED'), "hank's channel closed");
    assert.deepEqual(
      hank.seen.system.map(({ message }) => message),
      ['You no longer have permission to read from this Channel topic: plaza'],
    );
    await cli('broadcast', 'plaza', 'note', '{"n":1}');
    await waitFor(() => gina.seen.notes.length === 1, 'gina, a member, receiving the note');
    await sleep(200);
    assert.deepEqual(hank.seen.notes, []);
    assert.deepEqual(gina.seen.system, []);
  } finally {
    await closeAll(gina.client, hank.client);
  }
});

test("an operator creating a name a client's join created takes that channel over: non-members are closed, earlier messages deleted", async () => {
  const squatter = await joinAs('ivan', 'treasury');
  try {
    await squatter.channel.send({ type: 'broadcast', event: 'note', payload: { fake: true } });
    await waitFor(() => squatter.seen.notes.length === 1, "the squatter's note stored and echoed");
    const output = await cli('channel', 'create', 'treasury', 'private');
    assert.match(output, /^Took over channel "treasury", which a client's join had created: it is now the private channel "treasury"/);
    await waitFor(() => squatter.seen.statuses.includes('CLOSED'), 'the squatter closed out');
    assert.deepEqual(
      squatter.seen.system.map(({ message }) => message),
      ['You no longer have permission to read from this Channel topic: treasury'],
    );
    const { rows } = await env.db.pool.query(
      `SELECT c.type, c.created_by_join, (SELECT count(*)::int FROM realtime.messages m WHERE m.channel_id = c.id) AS messages FROM realtime.channels c WHERE slug = 'treasury'`,
    );
    assert.deepEqual(rows, [{ type: 'private', created_by_join: false, messages: 0 }]);
    const again = await realtime(['channel', 'create', 'treasury', 'private'], { databaseUrl: env.db.url });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /a channel with slug "treasury" already exists \(name "treasury", type private\)/, "an operator's channel is never taken over");
    const refused = await subscribe(squatter.client.channel('treasury'));
    assert.equal(refused.status, 'CHANNEL_ERROR', 'the squatter cannot join again');
  } finally {
    await closeAll(squatter.client);
  }
});

test("an operator creating as public a name a client's join created takes it over and keeps its messages and subscribers", async () => {
  const early = await joinAs('nora', 'agora');
  try {
    await early.channel.send({ type: 'broadcast', event: 'note', payload: { n: 1 } });
    await waitFor(() => early.seen.notes.length === 1, 'the first note echoed');
    assert.match(
      await cli('channel', 'create', 'Agora', 'public', '{"topic":"town"}'),
      /^Took over channel "agora", which a client's join had created: it is now the public channel "Agora" \(id [0-9a-f-]+\); its messages and joined clients are kept\.\n$/,
    );
    const { rows } = await env.db.pool.query(
      `SELECT c.name, c.metadata, c.created_by_join, (SELECT count(*)::int FROM realtime.messages m WHERE m.channel_id = c.id) AS messages FROM realtime.channels c WHERE slug = 'agora'`,
    );
    assert.deepEqual(rows, [{ name: 'Agora', metadata: { topic: 'town' }, created_by_join: false, messages: 1 }]);
    await cli('broadcast', 'agora', 'note', '{"n":2}');
    await waitFor(() => early.seen.notes.length === 2, 'the subscriber still receiving');
    assert.deepEqual(early.seen.system, []);
  } finally {
    await closeAll(early.client);
  }
});

test('a channel deleted while subscribed closes its subscribers with a system message', async () => {
  const june = await joinAs('june', 'ephemeral');
  try {
    assert.match(await cli('channel', 'delete', 'ephemeral', 'true'), /Deleted channel "ephemeral"/);
    await waitFor(() => june.seen.statuses.includes('CLOSED'), "june's channel closed");
    assert.deepEqual(
      june.seen.system.map(({ status, message }) => ({ status, message })),
      [{ status: 'error', message: 'Channel was deleted: ephemeral' }],
    );
  } finally {
    await closeAll(june.client);
  }
});

test('a removal whose notification was lost while the database listener was down closes the channel once it reconnects', async () => {
  const bunker = await createChannel(env.db.pool, { name: 'bunker', type: 'private' });
  await addMember(env.db.pool, { channelId: bunker.id, userId: 'kim' });
  const kimRaw = await rawJoin('kim', 'bunker', true);
  const client = await env.db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`DELETE FROM realtime.channel_members WHERE channel_id = $1 AND user_id = 'kim'`, [bunker.id]);
    const pid = await env.server.listener.backendPid();
    await env.db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    await waitFor(async () => (await env.db.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0, "the listener's backend gone");
    await client.query(`SELECT realtime.broadcast('bunker', 'note', '{"n":1}')`);
    await client.query('COMMIT');
    await kimRaw.expect(isClose, "kim's phx_close after the reconnect", 10_000);
    await sleep(200);
    assert.deepEqual(broadcastsOf(kimRaw), [], 'the note stored with the removal never reached kim');
  } finally {
    client.release();
    await closeAll(kimRaw);
  }
});

test('while the database listener is down, a send on this server does not reach a member removed meanwhile', async () => {
  const cellar = await createChannel(env.db.pool, { name: 'cellar', type: 'private' });
  for (const userId of ['lena', 'milo']) await addMember(env.db.pool, { channelId: cellar.id, userId });
  const lenaRaw = await rawJoin('lena', 'cellar', true);
  const miloRaw = await rawJoin('milo', 'cellar', true);
  try {
    const pid = await env.server.listener.backendPid();
    await env.db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    await waitFor(async () => (await env.db.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0, "the listener's backend gone");
    // The removal's notification is lost; the send below is stored after it and delivered by this server directly.
    await env.db.pool.query(`DELETE FROM realtime.channel_members WHERE channel_id = $1 AND user_id = 'lena'`, [cellar.id]);
    miloRaw.send(['1', '9', 'realtime:cellar', 'broadcast', { type: 'broadcast', event: 'note', payload: { n: 1 } }]);
    await lenaRaw.expect(isClose, "lena's phx_close after the reconnect", 10_000);
    await sleep(200);
    assert.deepEqual(broadcastsOf(lenaRaw), [], 'the note stored after the removal never reached lena');
  } finally {
    await closeAll(lenaRaw, miloRaw);
  }
});

test('the service role (a verified token) sends to private channels over REST and joins them, and keeps them when they change; a forged one in development mode does not', async () => {
  const vault = await createChannel(env.db.pool, { name: 'strongroom', type: 'private' });
  await addMember(env.db.pool, { channelId: vault.id, userId: 'alice' });
  const service = await token('ops', { role: 'service_role' });
  const send = async (server: { url: string }, bearer: string, n: number) => {
    const response = await fetch(`${server.url}/api/broadcast`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ messages: [{ topic: 'strongroom', event: 'note', payload: { n }, private: true }] }),
    });
    assert.equal(response.status, 202);
  };
  const stored = async () =>
    (await env.db.pool.query<{ n: number }>(`SELECT (payload->>'n')::int AS n FROM realtime.messages WHERE channel_id = $1 ORDER BY channel_offset`, [vault.id])).rows.map(
      (row) => row.n,
    );
  const alice = await rawJoin('alice', 'strongroom', true);
  const raw = await RawClient.open(env.server, `vsn=2.0.0&apikey=${anonKey}`);
  const development = await startTestServer(env.db, { jwtSecret: undefined });
  try {
    await send(env.server, service, 1);
    await send(env.server, await token('mallory'), 2);
    assert.deepEqual(await stored(), [1], "the service role's message is stored, a non-member's dropped");
    await waitFor(() => broadcastsOf(alice).length === 1, "alice receiving the service role's message");

    const joined = await raw.join('realtime:strongroom', '1', { private: true }, { access_token: service });
    assert.equal((joined[4] as { status: string }).status, 'ok', 'the service role joins the private channel');
    const forged = await token('ops', { role: 'service_role', secret: 'not-the-secret-but-long-enough-to-sign-with' });
    await send(development, forged, 3);
    const devRaw = await RawClient.open(development, 'vsn=2.0.0&apikey=dev');
    try {
      const refused = await devRaw.join('realtime:strongroom', '1', { private: true }, { access_token: forged });
      assert.match(JSON.stringify(refused[4]), /Unauthorized: You do not have permissions to read from this Channel topic: strongroom/);
    } finally {
      await devRaw.close();
    }
    assert.deepEqual(await stored(), [1], 'development mode does not honour a service_role claim it cannot verify for private channels');

    // A channel made private re-checks who is joined: the service role stays, a non-member is closed.
    await createChannel(env.db.pool, { name: 'atrium', type: 'public' });
    await raw.join('realtime:atrium', '2', {}, { access_token: service });
    const mallory = await rawJoin('mallory', 'atrium', false);
    await env.db.pool.query(`UPDATE realtime.channels SET type = 'private' WHERE slug = 'atrium'`);
    await mallory.expect(isClose, "mallory's phx_close");
    await cli('broadcast', 'atrium', 'note', '{"n":4}');
    await raw.expect((frame) => frame[2] === 'realtime:atrium' && frame[3] === 'broadcast', 'the service role still receiving in atrium');
    assert.equal(
      raw.frames.some((frame) => frame[3] === 'phx_close'),
      false,
      'the service role was not closed',
    );
    await mallory.close();
  } finally {
    await development.close();
    await closeAll(alice, raw);
  }
});

// TRUNCATE fires no row trigger; these two empty tables every other test uses, so they come last.
test('TRUNCATE of the membership table closes members out of private channels; nothing stored after reaches them, and public channels go on', async () => {
  const safe = await createChannel(env.db.pool, { name: 'safe', type: 'private' });
  await addMember(env.db.pool, { channelId: safe.id, userId: 'olga' });
  const olga = await joinAs('olga', 'safe', { private: true });
  const olgaRaw = await rawJoin('olga', 'safe', true);
  const passer = await joinAs('pete', 'square');
  try {
    await cli('broadcast', 'safe', 'note', '{"n":1}');
    await waitFor(() => olga.seen.notes.length === 1 && broadcastsOf(olgaRaw).length === 1, 'olga receiving the first note');

    const client = await env.db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('TRUNCATE realtime.channel_members');
      await client.query(`SELECT realtime.broadcast('safe', 'note', '{"n":2}')`);
      await client.query('COMMIT');
      await client.query(`SELECT realtime.broadcast('safe', 'note', '{"n":3}')`);
    } finally {
      client.release();
    }
    await cli('broadcast', 'safe', 'note', '{"n":4}');
    const revoked = 'You no longer have permission to read from this Channel topic: safe';
    await waitFor(() => olga.seen.statuses.includes('CLOSED'), "olga's channel closed");
    assert.deepEqual(
      olga.seen.system.map(({ status, message }) => ({ status, message })),
      [{ status: 'error', message: revoked }],
    );
    const closed = await olgaRaw.expect(isClose, "phx_close on olga's raw socket");
    await cli('broadcast', 'safe', 'note', '{"n":5}');
    await cli('broadcast', 'square', 'note', '{"n":1}');
    await waitFor(() => passer.seen.notes.length === 1, 'the public channel still receiving');
    await sleep(300);
    assert.deepEqual(olga.seen.notes, [{ n: 1 }], 'olga receives nothing stored after the truncate');
    assert.deepEqual(
      broadcastsOf(olgaRaw).map((frame) => (frame[4] as { payload: unknown }).payload),
      [{ n: 1 }],
    );
    assert.equal(olgaRaw.frames.at(-1), closed, "nothing follows phx_close on olga's socket");
    assert.deepEqual(passer.seen.system, [], 'a public channel is not closed');
  } finally {
    await closeAll(olga.client, olgaRaw, passer.client);
  }
});

test('TRUNCATE of the channel table closes every subscriber with `Channel was deleted`', async () => {
  const quinn = await joinAs('quinn', 'lounge');
  const quinnRaw = await rawJoin('quinn', 'lounge', false);
  try {
    await env.db.pool.query('TRUNCATE realtime.channels CASCADE');
    await waitFor(() => quinn.seen.statuses.includes('CLOSED'), "quinn's channel closed");
    assert.deepEqual(
      quinn.seen.system.map(({ status, message }) => ({ status, message })),
      [{ status: 'error', message: 'Channel was deleted: lounge' }],
    );
    await quinnRaw.expect(isClose, "phx_close on quinn's raw socket");
    assert.deepEqual(quinnRaw.frames.find((frame) => frame[3] === 'system')?.[4], {
      extension: 'system',
      status: 'error',
      message: 'Channel was deleted: lounge',
      channel: 'lounge',
    });
  } finally {
    await closeAll(quinn.client, quinnRaw);
  }
});
