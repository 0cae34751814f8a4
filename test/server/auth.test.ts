// Conformance: tokens and private channels with supabase-js: members only, exact errors, expiry, refresh.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addMember, createChannel } from '@nself/db';
import { loadConfig } from '@nself/server';
import { realtime } from '../helpers/cli.js';
import { RawClient } from './raw-client.js';
import { subscribe, supabase, upgrade } from './support.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { useTestServer } from '../helpers/server.js';

let anonKey: string;
const env = useTestServer({ jwtSecret: JWT_SECRET }, async (db) => {
  anonKey = await token(undefined, { role: 'anon' });
  const secret = await createChannel(db.pool, { name: 'secret', type: 'private' });
  await addMember(db.pool, { channelId: secret.id, userId: 'member-1' });
});

for (const vsn of ['1.0.0', '2.0.0'] as const) {
  test(`a private channel refuses a non-member with the exact Unauthorized reason and admits a member (vsn ${vsn})`, async () => {
    const outsider = supabase(env.server, { key: anonKey, vsn, accessToken: await token('outsider') });
    const member = supabase(env.server, { key: anonKey, vsn, accessToken: await token('member-1') });
    try {
      await outsider.realtime.setAuth();
      await member.realtime.setAuth();
      const refused = await subscribe(outsider.channel('secret', { config: { private: true } }));
      assert.equal(refused.status, 'CHANNEL_ERROR');
      assert.equal(refused.error?.message, 'Unauthorized: You do not have permissions to read from this Channel topic: secret');

      const received: unknown[] = [];
      const admitted = member
        .channel('secret', { config: { private: true, broadcast: { self: true, ack: true } } })
        .on('broadcast', { event: 'note' }, (message) => received.push(message.payload));
      assert.equal((await subscribe(admitted)).status, 'SUBSCRIBED');
      const listed = await realtime(['connections', '--json'], { databaseUrl: env.db.url });
      assert.equal(listed.code, 0, listed.stderr);
      const rows = (JSON.parse(listed.stdout) as Array<{ user_id: string | null; server_id: string; status: string }>).filter((row) => row.server_id === env.server.serverId);
      assert.ok(
        rows.length >= 2 && rows.every((row) => row.status === 'connected' && row.user_id === null),
        '`nself realtime connections` lists the live sockets (their apikey is anonymous)',
      );
      assert.equal(await admitted.send({ type: 'broadcast', event: 'note', payload: { n: 1 } }), 'ok');
      await waitFor(() => received.length === 1, 'the member receiving its broadcast');
    } finally {
      await outsider.removeAllChannels();
      await member.removeAllChannels();
    }
  });
}

test('a private channel cannot be joined as public by a non-member either, and a REST send by a non-member is dropped', async () => {
  const outsider = supabase(env.server, { key: anonKey, accessToken: await token('outsider') });
  try {
    await outsider.realtime.setAuth();
    const refused = await subscribe(outsider.channel('secret'));
    assert.equal(refused.status, 'CHANNEL_ERROR');
    const response = await fetch(`${env.server.url}/api/broadcast`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: anonKey, authorization: `Bearer ${await token('outsider')}` },
      body: JSON.stringify({ messages: [{ topic: 'secret', event: 'x', payload: {}, private: true }] }),
    });
    assert.equal(response.status, 202);
    const { rows } = await env.db.pool.query(`SELECT count(*)::int AS n FROM realtime.messages WHERE event_type = 'x'`);
    assert.equal(rows[0].n, 0, 'the non-member broadcast is not stored');
  } finally {
    await outsider.removeAllChannels();
  }
});

test('a channel made private in SQL or deleted by the CLI while the server runs is seen by the next join', async () => {
  const client = await RawClient.open(env.server, `vsn=2.0.0&apikey=${anonKey}`);
  const status = (frame: unknown[]) => (frame[4] as { status: string }).status;
  try {
    assert.equal(status(await client.join('realtime:turns-private', '1', {}, { access_token: await token('outsider') })), 'ok');
    await env.db.pool.query(`UPDATE realtime.channels SET type = 'private' WHERE slug = $1`, ['turns-private']);
    const refused = await client.join('realtime:turns-private', '2', {}, { access_token: await token('outsider') });
    assert.deepEqual(refused[4], { status: 'error', response: { reason: 'Unauthorized: You do not have permissions to read from this Channel topic: turns-private' } });

    assert.equal(status(await client.join('realtime:doomed', '3')), 'ok');
    const before = await env.db.pool.query<{ id: string }>(`SELECT id FROM realtime.channels WHERE slug = $1`, ['doomed']);
    const deleted = await realtime(['channel', 'delete', 'doomed', 'true'], { databaseUrl: env.db.url });
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(status(await client.join('realtime:doomed', '4', { private: true })), 'error', 'a deleted channel has no members to admit');
    assert.equal(status(await client.join('realtime:doomed', '5')), 'ok');
    const after = await env.db.pool.query<{ id: string }>(`SELECT id FROM realtime.channels WHERE slug = $1`, ['doomed']);
    assert.notEqual(after.rows[0]?.id, before.rows[0]?.id, 'the join created the channel anew');
  } finally {
    await client.close();
  }
});

test('joins sent at once to several channels each get their own channel and access check', async () => {
  const client = await RawClient.open(env.server, `vsn=2.0.0&apikey=${anonKey}`);
  try {
    const { rows } = await env.db.pool.query<{ id: string }>(`SELECT id FROM realtime.channels WHERE slug = 'secret'`);
    const secretId = rows[0]?.id ?? '';
    const member = await token('member-1');
    const joins: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
      ['realtime:together-a', {}, {}],
      ['realtime:together-b', {}, {}],
      ['realtime:secret', { private: true }, { access_token: member }],
      ['realtime:Secret', { private: true }, { access_token: await token('outsider') }],
      [`realtime:${secretId.toUpperCase()}`, { private: true }, { access_token: member }],
      ['realtime:together-a ', {}, {}],
    ];
    joins.forEach(([topic, config, extra], index) => {
      const ref = String(index + 1);
      client.send([ref, ref, topic, 'phx_join', { config: { broadcast: { self: false }, private: false, ...config }, ...extra }]);
    });
    const statuses = await Promise.all(joins.map(async (_, index) => ((await client.reply(String(index + 1)))[4] as { status: string }).status));
    assert.deepEqual(statuses, ['ok', 'ok', 'ok', 'error', 'ok', 'ok']);
    const created = await env.db.pool.query<{ slug: string }>(`SELECT slug FROM realtime.channels WHERE slug LIKE 'together-%' ORDER BY slug`);
    // Topics are exact: a trailing space names another channel, as on Supabase.
    assert.deepEqual(created.rows.map((row) => row.slug).sort(), ['together-a', 'together-a ', 'together-b']);
  } finally {
    await client.close();
  }
});

test('clients joining a new channel at once all join the one channel created for them', async () => {
  const clients = await Promise.all(Array.from({ length: 8 }, () => RawClient.open(env.server, `vsn=2.0.0&apikey=${anonKey}`)));
  try {
    const replies = await Promise.all(clients.map((client, index) => client.join(index % 2 === 0 ? 'realtime:fresh-crowd' : 'realtime:Fresh-Crowd', '1')));
    assert.deepEqual(
      replies.map((reply) => (reply[4] as { status: string }).status),
      Array.from({ length: 8 }, () => 'ok'),
    );
    const { rows } = await env.db.pool.query<{ name: string }>(`SELECT name FROM realtime.channels WHERE slug = 'fresh-crowd'`);
    assert.equal(rows.length, 1);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
});

test('the upgrade is refused without a valid token when a secret is set', async () => {
  assert.deepEqual(await upgrade(env.server, '/realtime/v1/websocket?vsn=2.0.0&apikey=not-a-jwt'), { status: 401, body: { error: 'The token provided is not a valid JWT' } });
  const forged = await token('x', { secret: 'another-secret-of-at-least-32-characters' });
  assert.deepEqual(await upgrade(env.server, `/realtime/v1/websocket?vsn=2.0.0&apikey=${forged}`), { status: 401, body: { error: 'Failed to validate JWT signature' } });
  assert.deepEqual(await upgrade(env.server, '/realtime/v1/websocket?vsn=2.0.0'), { status: 401, body: { error: 'API key is missing' } });
  assert.deepEqual(await upgrade(env.server, `/realtime/v1/websocket?vsn=3.0.0&apikey=${anonKey}`), {
    status: 400,
    body: { error: 'unsupported vsn "3.0.0"; expected one of: 1.0.0, 2.0.0' },
  });
  assert.equal((await upgrade(env.server, `/socket/websocket?apikey=${anonKey}`)).status, 101);
});

test('a token accepted before is refused once it expires, at the upgrade and at a join', async () => {
  const shortLived = await token('member-1', { expiresInSeconds: 2 });
  assert.equal((await upgrade(env.server, `/realtime/v1/websocket?vsn=2.0.0&apikey=${shortLived}`)).status, 101);
  const client = await RawClient.open(env.server, `vsn=2.0.0&apikey=${anonKey}`);
  try {
    assert.equal(((await client.join('realtime:reused', '1', {}, { access_token: shortLived }))[4] as { status: string }).status, 'ok');
    await sleep(2_200);
    assert.deepEqual(await upgrade(env.server, `/realtime/v1/websocket?vsn=2.0.0&apikey=${shortLived}`), { status: 401, body: { error: 'Token has expired' } });
    const refused = (await client.join('realtime:reused-again', '2', {}, { access_token: shortLived }))[4] as { status: string; response: { reason: string } };
    assert.equal(refused.status, 'error');
    assert.match(refused.response.reason, /^InvalidJWTToken: Token has expired \d+ seconds ago$/);
  } finally {
    await client.close();
  }
});

test('an expiring access token closes the channel at expiry with the system error, then CLOSED', async () => {
  const client = supabase(env.server, { key: anonKey, accessToken: await token('member-1', { expiresInSeconds: 2 }) });
  try {
    await client.realtime.setAuth();
    const system: Array<{ message: string; status: string }> = [];
    const statuses: string[] = [];
    const channel = client.channel('expiring').on('system', {}, (payload) => system.push(payload as { message: string; status: string }));
    channel.subscribe((status) => statuses.push(status));
    await waitFor(() => statuses.includes('SUBSCRIBED'), 'the join');
    await waitFor(() => statuses.includes('CLOSED'), 'the channel closing at expiry', 6_000);
    assert.equal(system[0]?.status, 'error');
    assert.match(system[0]?.message ?? '', /^Token has expired \d+ seconds ago$/);
  } finally {
    await client.removeAllChannels();
  }
});

test('a join with an already expired token gets the InvalidJWTToken reason', async () => {
  const client = supabase(env.server, { key: anonKey, accessToken: await token('member-1', { expiresInSeconds: -5 }) });
  try {
    await client.realtime.setAuth();
    const result = await subscribe(client.channel('late'));
    assert.equal(result.status, 'CHANNEL_ERROR');
    assert.match(result.error?.message ?? '', /^InvalidJWTToken: Token has expired \d+ seconds ago$/);
  } finally {
    await client.removeAllChannels();
  }
});

test('Hasura claims name the user, and production mode refuses to start without a secret', async () => {
  const hasura = supabase(env.server, { key: anonKey });
  try {
    const { SignJWT } = await import('jose');
    const hasuraToken = await new SignJWT({ 'https://hasura.io/jwt/claims': { 'x-hasura-user-id': 'member-1', 'x-hasura-default-role': 'user' } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(JWT_SECRET));
    await hasura.realtime.setAuth(hasuraToken);
    assert.equal((await subscribe(hasura.channel('secret', { config: { private: true } }))).status, 'SUBSCRIBED');
  } finally {
    await hasura.removeAllChannels();
  }
  assert.throws(() => loadConfig({ NODE_ENV: 'production' }), /NODE_ENV=production needs a way to verify client tokens: set REALTIME_JWT_SECRET/);
  assert.equal(loadConfig({ HASURA_GRAPHQL_JWT_SECRET: '{"type":"HS256","key":"abc"}' }).jwtSecret, 'abc');
  assert.throws(() => loadConfig({ HASURA_GRAPHQL_JWT_SECRET: 'nope' }), /HASURA_GRAPHQL_JWT_SECRET is not JSON/);
  assert.throws(() => loadConfig({ REALTIME_PORT: 'eighty' }), /REALTIME_PORT "eighty" is not valid; expected a whole number from 0 to 65535/);
  assert.equal(loadConfig({}).changesAtCommit, true);
  assert.equal(loadConfig({ REALTIME_CHANGES_AT_COMMIT: 'off' }).changesAtCommit, false);
  assert.throws(() => loadConfig({ REALTIME_CHANGES_AT_COMMIT: 'maybe' }), /REALTIME_CHANGES_AT_COMMIT "maybe" is not valid; expected one of: true, 1, on, yes, false, 0, off, no/);
});

test('access_token refreshes: a new token outlives the old expiry, a bad one or a revoked membership closes the channel', async () => {
  const client = await RawClient.open(env.server, `vsn=2.0.0&apikey=${anonKey}`);
  try {
    const short = await token('member-1', { expiresInSeconds: 2 });
    assert.equal(((await client.join('realtime:secret', '1', { private: true }, { access_token: short }))[4] as { status: string }).status, 'ok');
    client.send(['1', '2', 'realtime:secret', 'access_token', { access_token: await token('member-1', { expiresInSeconds: 3600 }) }]);
    await sleep(2_500);
    assert.equal(
      client.frames.find((frame) => frame[3] === 'phx_close'),
      undefined,
      'the refreshed token keeps the channel open past the old expiry',
    );

    client.send(['1', '3', 'realtime:secret', 'access_token', { access_token: await token('outsider') }]);
    const revoked = await client.expect((frame) => frame[3] === 'system', 'the revocation');
    assert.deepEqual(revoked, [
      '1',
      null,
      'realtime:secret',
      'system',
      {
        extension: 'system',
        status: 'error',
        message: 'You no longer have permission to read from this Channel topic: secret',
        channel: 'secret',
      },
    ]);
    await client.expect((frame) => frame[3] === 'phx_close' && frame[0] === '1', 'phx_close after the revocation');

    assert.equal(((await client.join('realtime:open-room', '4'))[4] as { status: string }).status, 'ok');
    client.send(['4', '5', 'realtime:open-room', 'access_token', { access_token: 'garbage' }]);
    const malformed = await client.expect((frame) => frame[3] === 'system' && frame[2] === 'realtime:open-room', 'the malformed token error');
    assert.equal((malformed[4] as { message: string }).message, 'The token provided is not a valid JWT');
    await client.expect((frame) => frame[3] === 'phx_close' && frame[2] === 'realtime:open-room', 'phx_close after the bad token');
  } finally {
    await client.close();
  }
});
