// `nself realtime init --rls`: the realtime tables safe to expose through Hasura or PostgREST. Queried as two users the
// way those set the claims, each sees only what is theirs, and the server goes on as the owner, untouched by it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { createClient } from '@supabase/supabase-js';
import { addMember, appendMessage, createChannel, recordConnections, trackPresence } from '@nself/db';
import { realtime } from '../helpers/cli.js';
import { useTestServer } from '../helpers/server.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const env = useTestServer({ jwtSecret: JWT_SECRET });

/** What `SELECT …` returns as the role `rls_app_user` with PostgREST's claims for `user`. */
async function asUser(user: string | null, query: string): Promise<unknown[]> {
  const client = await env.db.pool.connect();
  try {
    await client.query('BEGIN');
    if (user) await client.query("SELECT set_config('request.jwt.claims', $1, true)", [JSON.stringify({ sub: user, role: 'rls_app_user' })]);
    await client.query("SELECT set_config('role', 'rls_app_user', true)");
    return (await client.query(query)).rows;
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

test('with --rls each user sees public channels and their own, the messages and presence of those, and only their own memberships and connections', async () => {
  const init = await realtime(['init', '--rls'], { databaseUrl: env.db.url });
  assert.equal(init.code, 0, init.stderr);
  assert.match(
    init.stdout,
    /Row level security is on for realtime\.channels, realtime\.channel_members, realtime\.messages, realtime\.presence, realtime\.presence_sessions, realtime\.connections/,
  );
  await env.db.pool.query('DO $$ BEGIN CREATE ROLE rls_app_user NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$; GRANT USAGE ON SCHEMA realtime TO rls_app_user');

  const lobby = await createChannel(env.db.pool, { name: 'rls-lobby', type: 'public' });
  const annRoom = await createChannel(env.db.pool, { name: 'rls-ann-room', type: 'private' });
  const bobRoom = await createChannel(env.db.pool, { name: 'rls-bob-room', type: 'private' });
  await addMember(env.db.pool, { channelId: annRoom.id, userId: 'ann', role: 'admin' });
  await addMember(env.db.pool, { channelId: bobRoom.id, userId: 'bob' });
  for (const channel of [lobby, annRoom, bobRoom]) await appendMessage(env.db.pool, { channelId: channel.id, event: 'note', payload: { in: channel.slug } });
  await trackPresence(env.db.pool, { userId: 'ann', channelId: annRoom.id });
  await trackPresence(env.db.pool, { userId: 'bob', channelId: bobRoom.id });
  await trackPresence(env.db.pool, { userId: 'bob', channelId: null });
  await recordConnections(env.db.pool, [
    { connectionId: 'rls-conn-ann', userId: 'ann', serverId: 'rls-test', remoteAddress: null, userAgent: null },
    { connectionId: 'rls-conn-bob', userId: 'bob', serverId: 'rls-test', remoteAddress: null, userAgent: null },
  ]);

  const slugs = (rows: unknown[]) =>
    (rows as Array<{ slug: string }>)
      .map((row) => row.slug)
      .filter((slug) => slug.startsWith('rls-'))
      .sort();
  assert.deepEqual(slugs(await asUser('ann', 'SELECT slug FROM realtime.channels')), ['rls-ann-room', 'rls-lobby']);
  assert.deepEqual(slugs(await asUser('bob', 'SELECT slug FROM realtime.channels')), ['rls-bob-room', 'rls-lobby']);
  assert.deepEqual(slugs(await asUser(null, 'SELECT slug FROM realtime.channels')), ['rls-lobby'], 'no user: public channels only');

  const seenMessages = async (user: string) =>
    ((await asUser(user, "SELECT payload ->> 'in' AS slug FROM realtime.messages")) as Array<{ slug: string }>).map((row) => row.slug).sort();
  assert.deepEqual(await seenMessages('ann'), ['rls-ann-room', 'rls-lobby']);
  assert.deepEqual(await seenMessages('bob'), ['rls-bob-room', 'rls-lobby']);

  const seenPresence = async (user: string) =>
    ((await asUser(user, "SELECT user_id || '@' || coalesce(channel_id::text, 'global') AS who FROM realtime.presence")) as Array<{ who: string }>).map((row) => row.who).sort();
  assert.deepEqual(await seenPresence('ann'), [`ann@${annRoom.id}`]);
  assert.deepEqual(await seenPresence('bob'), [`bob@${bobRoom.id}`, 'bob@global'].sort());

  assert.deepEqual(await asUser('ann', 'SELECT user_id, role FROM realtime.channel_members'), [{ user_id: 'ann', role: 'admin' }]);
  assert.deepEqual(await asUser('bob', "SELECT connection_id FROM realtime.connections WHERE server_id = 'rls-test'"), [{ connection_id: 'rls-conn-bob' }]);
  await assert.rejects(
    asUser('ann', "INSERT INTO realtime.channel_members (channel_id, user_id) SELECT id, 'ann' FROM realtime.channels WHERE slug = 'rls-bob-room'"),
    /permission denied for table channel_members/,
  );
  await assert.rejects(asUser('ann', 'SELECT count(*) FROM realtime.changes'), /permission denied for table changes/);

  // Applied again, nothing changes.
  assert.equal((await realtime(['init', '--rls'], { databaseUrl: env.db.url })).code, 0);
  assert.deepEqual(slugs(await asUser('ann', 'SELECT slug FROM realtime.channels')), ['rls-ann-room', 'rls-lobby']);
});

test('with --rls on, the server goes on: a member joins a private channel, receives a broadcast and sees presence', async () => {
  assert.equal((await realtime(['init', '--rls'], { databaseUrl: env.db.url })).code, 0);
  const room = await createChannel(env.db.pool, { name: 'rls-live-room', type: 'private' });
  await addMember(env.db.pool, { channelId: room.id, userId: 'cat' });
  const client = createClient(`http://127.0.0.1:${env.server.port}`, await token(undefined, { role: 'anon' }), {
    realtime: { transport: WebSocket as never, timeout: 5_000, heartbeatIntervalMs: 5_000 },
  });
  await client.realtime.setAuth(await token('cat'));
  const received: unknown[] = [];
  const channel = client
    .channel('rls-live-room', { config: { private: true, broadcast: { self: true } } })
    .on('broadcast', { event: '*' }, (message) => received.push(message['payload']))
    .on('presence', { event: 'sync' }, () => undefined);
  await new Promise<void>((resolve, reject) => channel.subscribe((status) => (status === 'SUBSCRIBED' ? resolve() : status !== 'CLOSED' && reject(new Error(status)))));
  try {
    await channel.send({ type: 'broadcast', event: 'hello', payload: { n: 1 } });
    await waitFor(() => received.length === 1, 'the broadcast');
    assert.equal(await channel.track({ here: true }), 'ok');
    await waitFor(() => Object.keys(channel.presenceState()).length === 1, 'the presence');
  } finally {
    await client.removeAllChannels();
  }
});
