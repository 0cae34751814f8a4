// Conformance: supabase-js presence across clients, two connections of one user, and presence from the CLI.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RealtimeChannel } from '@supabase/realtime-js';
import { createChannel } from '@nself/db';
import { realtime } from '../helpers/cli.js';
import { RawClient } from './raw-client.js';
import { subscribe, supabase } from './support.js';
import { createTestDatabase } from '../helpers/database.js';
import { startTestServer, useTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const env = useTestServer();

/** A channel that records presence events. */
function watch(channel: RealtimeChannel) {
  const events = { joins: [] as string[], leaves: [] as string[], syncs: 0 };
  channel
    .on('presence', { event: 'sync' }, () => {
      events.syncs++;
    })
    .on('presence', { event: 'join' }, ({ key }) => {
      events.joins.push(key);
    })
    .on('presence', { event: 'leave' }, ({ key }) => {
      events.leaves.push(key);
    });
  return events;
}

for (const vsn of ['1.0.0', '2.0.0'] as const) {
  test(`presence sync, join and leave across two clients (vsn ${vsn})`, async () => {
    const alice = supabase(env.server, { vsn });
    const bob = supabase(env.server, { vsn });
    const room = `lobby-${vsn.replace(/\./g, '')}`;
    try {
      const a = alice.channel(room, { config: { presence: { key: 'alice' } } });
      const aliceSees = watch(a);
      assert.equal((await subscribe(a)).status, 'SUBSCRIBED');
      await waitFor(() => aliceSees.syncs > 0, 'the first presence sync (presence_state)');
      assert.equal(await a.track({ name: 'Alice', status: 'online' }), 'ok');
      await waitFor(() => aliceSees.joins.includes('alice'), 'alice seeing her own join');

      const b = bob.channel(room, { config: { presence: { key: 'bob' } } });
      const bobSees = watch(b);
      assert.equal((await subscribe(b)).status, 'SUBSCRIBED');
      await waitFor(() => 'alice' in b.presenceState(), 'bob receiving alice in presence_state');
      assert.deepEqual(
        b.presenceState()['alice']?.map(({ presence_ref: _ref, ...meta }) => meta),
        [{ name: 'Alice', status: 'online' }],
      );
      assert.equal(await b.track({ name: 'Bob', status: 'away' }), 'ok');
      await waitFor(() => aliceSees.joins.includes('bob'), 'alice seeing bob join');
      assert.equal((a.presenceState()['bob']?.[0] as { status?: string } | undefined)?.status, 'away');

      const { rows } = await env.db.pool.query(`SELECT p.user_id, p.status FROM realtime.presence p JOIN realtime.channels c ON c.id = p.channel_id WHERE c.slug = $1 ORDER BY 1`, [
        room,
      ]);
      assert.deepEqual(rows, [
        { user_id: 'alice', status: 'online' },
        { user_id: 'bob', status: 'away' },
      ]);

      await bob.removeAllChannels();
      await waitFor(() => aliceSees.leaves.includes('bob'), 'alice seeing bob leave');
      assert.deepEqual(Object.keys(a.presenceState()), ['alice']);
      void bobSees;
    } finally {
      await alice.removeAllChannels();
      await bob.removeAllChannels();
    }
  });
}

test('a user with two connections has one meta per connection; closing one leaves its meta only, closing both sets them offline', async () => {
  const tab1 = supabase(env.server);
  const tab2 = supabase(env.server);
  // The observer applies diffs by Phoenix's rules (supabase-js 2.109 loses refs of keys with several metas: supabase-js#2565).
  const observer = await RawClient.open(env.server);
  const seen = () => observer.presence('realtime:tabs');
  try {
    await observer.join('realtime:tabs', '1', { presence: { key: 'observer', enabled: true } });
    for (const [client, page] of [
      [tab1, 'home'],
      [tab2, 'settings'],
    ] as const) {
      const channel = client.channel('tabs', { config: { presence: { key: 'carol' } } });
      assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
      assert.equal(await channel.track({ page }), 'ok');
    }
    await waitFor(() => seen()['carol']?.length === 2, "both of carol's connections");
    assert.deepEqual(seen(), { carol: [{ page: 'home' }, { page: 'settings' }] });
    await tab1.removeAllChannels();
    await waitFor(() => seen()['carol']?.length === 1, "the leave of the closed connection's meta");
    assert.deepEqual(seen(), { carol: [{ page: 'settings' }] });
    const status = async () =>
      (await env.db.pool.query(`SELECT p.status FROM realtime.presence p JOIN realtime.channels c ON c.id = p.channel_id WHERE c.slug = 'tabs' AND p.user_id = 'carol'`)).rows[0]
        ?.status;
    assert.equal(await status(), 'online', 'closing one of two connections keeps the user online');
    await tab2.removeAllChannels();
    await waitFor(() => !('carol' in seen()), 'carol leaving once her last connection closed');
    assert.equal(await status(), 'offline');
  } finally {
    await Promise.all([tab1, tab2].map((client) => client.removeAllChannels()));
    await observer.close();
  }
});

test('presence tracked from the CLI joins connected clients, and a client track shows in `presence online`', async () => {
  const client = supabase(env.server);
  try {
    const channel = client.channel('studio', { config: { presence: { key: 'dave' } } });
    const seen = watch(channel);
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    assert.equal(await channel.track({ status: 'online', editing: 'doc-1' }), 'ok');

    const tracked = await realtime(['presence', 'track', 'erin', 'studio', 'away'], { databaseUrl: env.db.url });
    assert.equal(tracked.code, 0, tracked.stderr);
    await waitFor(() => seen.joins.includes('erin'), 'erin joining from the CLI');
    assert.equal((channel.presenceState()['erin']?.[0] as { status?: string } | undefined)?.status, 'away');

    const online = await realtime(['presence', 'online', 'studio', '--json'], { databaseUrl: env.db.url });
    assert.equal(online.code, 0, online.stderr);
    const users = (JSON.parse(online.stdout) as Array<{ userId?: string; user_id?: string }>).map((row) => row.userId ?? row.user_id).sort();
    assert.deepEqual(users, ['dave', 'erin']);

    const offline = await realtime(['presence', 'offline', 'erin', 'studio'], { databaseUrl: env.db.url });
    assert.equal(offline.code, 0, offline.stderr);
    await waitFor(() => seen.leaves.includes('erin'), 'erin leaving from the CLI');
  } finally {
    await client.removeAllChannels();
  }
});

test('presence of a server process that died is swept offline', async () => {
  // A database of its own: one process per database runs the sweeps, and this file's server would lead them at its own pace.
  const db = await createTestDatabase({ migrated: true });
  const doomed = await startTestServer(db);
  const client = supabase(doomed);
  const channel = client.channel('crashy', { config: { presence: { key: 'frank' } } });
  assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
  assert.equal(await channel.track({}), 'ok');
  await client.removeAllChannels();
  await doomed.close();
  // Simulate a crash: the rows a dead process leaves behind (connected, silent, presence online).
  const {
    rows: [session],
  } = await db.pool.query(`SELECT s.connection_id FROM realtime.presence_sessions s LIMIT 1`);
  assert.equal(session, undefined, 'a clean shutdown ends its sessions');
  await db.pool.query(`INSERT INTO realtime.connections (connection_id, server_id, last_seen_at) VALUES ('ghost', 'dead', now() - interval '1 hour')`);
  await db.pool.query(`UPDATE realtime.presence SET status = 'online' WHERE user_id = 'frank'`);
  await db.pool.query(
    `INSERT INTO realtime.presence_sessions (connection_id, channel_id, user_id) SELECT 'ghost', channel_id, user_id FROM realtime.presence WHERE user_id = 'frank'`,
  );
  const sweeper = await startTestServer(db, { sweepIntervalMs: 100, staleAfterSeconds: 60 });
  try {
    await waitFor(async () => (await db.pool.query(`SELECT status FROM realtime.presence WHERE user_id = 'frank'`)).rows[0]?.status === 'offline', 'the sweeper');
    const { rows } = await db.pool.query(`SELECT status FROM realtime.connections WHERE connection_id = 'ghost'`);
    assert.equal(rows[0]?.status, 'disconnected');
  } finally {
    await sweeper.close();
    await db.drop();
  }
});

test('a presence channel sends presence_state even to a client that did not ask for presence; a tracked status is honoured', async () => {
  await createChannel(env.db.pool, { name: 'hall', type: 'presence' });
  const client = await RawClient.open(env.server);
  try {
    await client.join('realtime:hall', '1', {}, {});
    const state = await client.expect((frame) => frame[3] === 'presence_state', 'presence_state');
    assert.deepEqual(state, ['1', null, 'realtime:hall', 'presence_state', {}]);
    client.send(['1', '2', 'realtime:hall', 'presence', { type: 'presence', event: 'TRACK', payload: { status: 'away', mood: 'quiet' } }]);
    assert.deepEqual((await client.reply('2'))[4], { status: 'ok', response: {} });
    const diff = await client.expect((frame) => frame[3] === 'presence_diff', 'the diff of its own track');
    const joins = (diff[4] as { joins: Record<string, { metas: Array<Record<string, unknown>> }> }).joins;
    const [key] = Object.keys(joins);
    assert.ok(key, 'a generated presence key');
    const { phx_ref: ref, ...meta } = joins[key]?.metas[0] ?? {};
    assert.equal(typeof ref, 'string');
    assert.deepEqual(meta, { status: 'away', mood: 'quiet' });
    const { rows } = await env.db.pool.query(`SELECT status, metadata FROM realtime.presence WHERE user_id = $1`, [key]);
    assert.deepEqual(rows, [{ status: 'away', metadata: { status: 'away', mood: 'quiet' } }]);
  } finally {
    await client.close();
  }
});
