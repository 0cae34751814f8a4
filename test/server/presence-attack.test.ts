// Presence under attack: a presence key naming another user, large metadata, oversized tracks, a channel filled by one user, what NOTIFY carries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import pg from 'pg';
import type { RealtimeChannel } from '@supabase/realtime-js';
import type { SupabaseClient } from '@supabase/supabase-js';
import { loadConfig } from '@nself/server';
import { realtime } from '../helpers/cli.js';
import { RawClient } from './raw-client.js';
import { subscribe, supabase } from './support.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { startTestServer, useTestServer } from '../helpers/server.js';

const MAX_PRESENCE_BYTES = 16_384;
const env = useTestServer({ jwtSecret: JWT_SECRET });

/** A supabase-js client signed in as `sub` (no `sub`: the anon key's token, which names no user). */
async function signedIn(sub: string | undefined) {
  const jwt = await token(sub, { role: sub ? 'authenticated' : 'anon' });
  return supabase(env.server, { key: jwt, accessToken: jwt });
}

/** A channel of `client` with presence enabled (supabase-js asks for presence once it has a presence listener). */
function presenceChannel(client: SupabaseClient, topic: string, key: string): RealtimeChannel {
  return client.channel(topic, { config: { presence: { key } } }).on('presence', { event: 'sync' }, () => undefined);
}

/** Asserts that a viewer holds exactly `expected` under a key, without printing kilobytes when it does not. */
function assertIntact(actual: unknown, expected: unknown, what: string): void {
  assert.ok(isDeepStrictEqual(actual, expected), `${what}: expected ${Buffer.byteLength(JSON.stringify(expected))} bytes as tracked, got ${JSON.stringify(actual).slice(0, 200)}`);
}

/** The stored presence rows of a channel, as `presence online` and SQL readers see them. */
async function storedPresence(slug: string): Promise<Array<{ user_id: string; status: string; metadata: Record<string, unknown> }>> {
  const { rows } = await env.db.pool.query(
    `SELECT p.user_id, p.status, p.metadata FROM realtime.presence p JOIN realtime.channels c ON c.id = p.channel_id
      WHERE c.slug = $1 ORDER BY p.user_id`,
    [slug],
  );
  return rows;
}

/** What a viewer's supabase-js shows under each key: the metas without their presence_ref, in a stable order. */
function shown(channel: RealtimeChannel): Record<string, Array<Record<string, unknown>>> {
  const view: Record<string, Array<Record<string, unknown>>> = {};
  for (const [key, metas] of Object.entries(channel.presenceState())) {
    view[key] = metas.map(({ presence_ref: _ref, ...meta }) => meta as Record<string, unknown>).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  }
  return view;
}

test("a client joining with another user's id as its presence key shows under that key but cannot write that user's stored presence", async () => {
  const victim = await signedIn('victim-1');
  const mallory = await signedIn('mallory');
  // The viewer applies diffs by Phoenix's rules (supabase-js 2.109 loses refs of keys with several metas: supabase-js#2565).
  const viewer = await RawClient.open(env.server, `vsn=2.0.0&apikey=${await token('viewer')}`);
  const sees = () => viewer.presence('realtime:boardroom');
  try {
    await viewer.join('realtime:boardroom', '1', { presence: { key: 'viewer', enabled: true } });

    // The victim is not present: the attacker tries to make them appear online.
    const forged = presenceChannel(mallory, 'boardroom', 'victim-1');
    assert.equal((await subscribe(forged)).status, 'SUBSCRIBED');
    assert.equal(await forged.track({ status: 'online', note: 'it is me, honest' }), 'ok');
    await waitFor(() => sees()['victim-1']?.length === 1, 'the attacker under the key it chose');
    assert.deepEqual(sees(), { 'victim-1': [{ status: 'online', note: 'it is me, honest' }] });
    assert.deepEqual(
      await storedPresence('boardroom'),
      [{ user_id: 'mallory', status: 'online', metadata: { status: 'online', note: 'it is me, honest' } }],
      "the stored presence is the token's user, not the key",
    );
    const online = await realtime(['presence', 'online', 'boardroom', '--json'], { databaseUrl: env.db.url });
    assert.equal(online.code, 0, online.stderr);
    assert.deepEqual(
      (JSON.parse(online.stdout) as Array<{ userId?: string; user_id?: string }>).map((row) => row.userId ?? row.user_id),
      ['mallory'],
    );

    // The victim arrives and sets a status; the attacker tries to overwrite it.
    const own = presenceChannel(victim, 'boardroom', 'victim-1');
    assert.equal((await subscribe(own)).status, 'SUBSCRIBED');
    assert.equal(await own.track({ status: 'away', mood: 'busy' }), 'ok');
    await waitFor(() => sees()['victim-1']?.length === 2, 'both presences under the key, one meta each');
    assert.equal(await forged.track({ status: 'online', mood: 'hacked' }), 'ok');
    await waitFor(() => sees()['victim-1']?.some((meta) => meta['mood'] === 'hacked'), "the attacker's new meta");
    assert.deepEqual(sees(), {
      'victim-1': [
        { status: 'away', mood: 'busy' },
        { status: 'online', mood: 'hacked' },
      ],
    });
    assert.deepEqual(await storedPresence('boardroom'), [
      { user_id: 'mallory', status: 'online', metadata: { status: 'online', mood: 'hacked' } },
      { user_id: 'victim-1', status: 'away', metadata: { status: 'away', mood: 'busy' } },
    ]);

    // The attacker leaves: one leave for its meta; the victim stays as they set themselves.
    await mallory.removeAllChannels();
    await waitFor(() => sees()['victim-1']?.length === 1, "the leave of the attacker's meta");
    assert.deepEqual(sees(), { 'victim-1': [{ status: 'away', mood: 'busy' }] });
    assert.deepEqual(
      (await storedPresence('boardroom')).map((row) => [row.user_id, row.status]),
      [
        ['mallory', 'offline'],
        ['victim-1', 'away'],
      ],
    );
  } finally {
    await Promise.all([victim, mallory].map((client) => client.removeAllChannels()));
    await viewer.close();
  }
});

test('a client whose token names no user is seen by viewers but writes no stored presence', async () => {
  const anonymous = await signedIn(undefined);
  const viewer = await signedIn('viewer');
  try {
    const watching = presenceChannel(viewer, 'foyer', 'viewer');
    assert.equal((await subscribe(watching)).status, 'SUBSCRIBED');
    const channel = presenceChannel(anonymous, 'foyer', 'victim-2');
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    assert.equal(await channel.track({ status: 'online' }), 'ok');
    await waitFor(() => shown(watching)['victim-2']?.length === 1, 'the anonymous presence');
    assert.deepEqual(await storedPresence('foyer'), []);
  } finally {
    await Promise.all([anonymous, viewer].map((client) => client.removeAllChannels()));
  }
});

test('presence metadata larger than a NOTIFY payload reaches viewers intact, from a client and from the CLI', async () => {
  const tracker = await signedIn('writer');
  const viewer = await signedIn('viewer');
  try {
    const watching = presenceChannel(viewer, 'gallery', 'viewer');
    assert.equal((await subscribe(watching)).status, 'SUBSCRIBED');
    const big = { status: 'online', avatar: 'x'.repeat(MAX_PRESENCE_BYTES - 100) };
    assert.ok(Buffer.byteLength(JSON.stringify(big)) > 8000 && Buffer.byteLength(JSON.stringify(big)) <= MAX_PRESENCE_BYTES);
    const channel = presenceChannel(tracker, 'gallery', 'writer');
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    assert.equal(await channel.track(big), 'ok');
    await waitFor(() => shown(watching)['writer'], 'the large presence');
    assertIntact(shown(watching)['writer'], [big], "the client's presence");

    const cliMetadata = { banner: 'y'.repeat(9000) };
    const tracked = await realtime(['presence', 'track', 'erin', 'gallery', 'away', JSON.stringify(cliMetadata)], { databaseUrl: env.db.url });
    assert.equal(tracked.code, 0, tracked.stderr);
    await waitFor(() => shown(watching)['erin'], 'the large presence from the CLI');
    assertIntact(shown(watching)['erin'], [{ status: 'away', ...cliMetadata }], "the CLI's presence");

    const late = await signedIn('latecomer');
    try {
      const joining = presenceChannel(late, 'gallery', 'latecomer');
      assert.equal((await subscribe(joining)).status, 'SUBSCRIBED');
      await waitFor(() => shown(joining)['erin'] && shown(joining)['writer'], 'both large presences in presence_state');
      assertIntact(shown(joining)['writer'], [big], "the client's presence in presence_state");
      assertIntact(shown(joining)['erin'], [{ status: 'away', ...cliMetadata }], "the CLI's presence in presence_state");
    } finally {
      await late.removeAllChannels();
    }
  } finally {
    await Promise.all([tracker, viewer].map((client) => client.removeAllChannels()));
  }
});

test('a presence larger than REALTIME_MAX_PRESENCE_BYTES is refused with "Track message size exceeded" and the channel closed', async () => {
  const client = await RawClient.open(env.server, `vsn=2.0.0&apikey=${await token('bulky')}`);
  try {
    await client.join('realtime:cargo', '1', { presence: { key: 'bulky', enabled: true } });
    await client.expect((frame) => frame[3] === 'presence_state', 'presence_state');
    const payload = { blob: 'z'.repeat(MAX_PRESENCE_BYTES) };
    assert.ok(Buffer.byteLength(JSON.stringify(payload)) < env.server.config.limits.maxPayloadBytes, 'well under the broadcast limit');
    client.send(['1', '2', 'realtime:cargo', 'presence', { type: 'presence', event: 'track', payload }]);
    const system = await client.expect((frame) => frame[3] === 'system', 'the system error');
    assert.deepEqual(system, ['1', null, 'realtime:cargo', 'system', { extension: 'system', status: 'error', message: 'Track message size exceeded', channel: 'cargo' }]);
    await client.expect((frame) => frame[3] === 'phx_close', 'phx_close');
    await sleep(200);
    assert.equal(
      client.frames.find((frame) => frame[1] === '2'),
      undefined,
      'no reply to the refused track',
    );
    assert.deepEqual(await storedPresence('cargo'), []);
  } finally {
    await client.close();
  }
});

test("one user's many sockets cannot fill a channel's presence past REALTIME_MAX_PRESENCE_STATE_BYTES; a joiner still gets its presence_state", async () => {
  const limits = { maxPresenceBytes: 8192, maxPresenceStateBytes: 65_536, maxSendBufferBytes: 98_304 };
  const server = await startTestServer(env.db, { jwtSecret: JWT_SECRET, limits });
  const attackerToken = await token('mallory');
  const sockets: RawClient[] = [];
  const victim = supabase(server, { key: await token('victim'), accessToken: await token('victim') });
  const blob = { blob: 'm'.repeat(8000) };
  const SOCKETS = 100;
  /** Every attacker socket tracks `blob` at once; resolves with the replies' responses. */
  const trackAll = (ref: string) =>
    Promise.all(
      sockets.map(async (socket) => {
        socket.send(['1', ref, 'realtime:plaza', 'presence', { type: 'presence', event: 'track', payload: blob }]);
        return (await socket.reply(ref))[4] as { status: string; response: { reason?: string } };
      }),
    );
  try {
    // The attacker joins with 100 sockets, without presence (no state of the channel is loaded), and tracks 8 KB on each at once.
    for (let i = 0; i < SOCKETS; i += 1) sockets.push(await RawClient.open(server, `vsn=2.0.0&apikey=${attackerToken}`));
    await Promise.all(sockets.map((socket, i) => socket.join('realtime:plaza', '1', { presence: { key: `mallory-${i}`, enabled: false } })));
    const replies = await trackAll('2');
    const accepted = replies.filter((reply) => reply.status === 'ok').length;
    assert.ok(accepted >= 1 && accepted * Buffer.byteLength(JSON.stringify(blob)) <= limits.maxPresenceStateBytes, `${accepted} tracks accepted`);
    const full = "PresenceStateFull: the channel's presence is over REALTIME_MAX_PRESENCE_STATE_BYTES (65536 bytes); untrack or track less";
    assert.deepEqual(
      replies.filter((reply) => reply.status !== 'ok'),
      Array.from({ length: SOCKETS - accepted }, () => ({ status: 'error', response: { reason: full } })),
    );
    const { rows } = await env.db.pool.query(
      `SELECT count(*)::int AS tracked FROM realtime.presence_sessions s JOIN realtime.channels c ON c.id = s.channel_id WHERE c.slug = 'plaza'`,
    );
    assert.deepEqual(rows, [{ tracked: accepted }], 'refused tracks store nothing');

    // A supabase-js client joins with presence and tracks once subscribed: it gets the whole presence_state and stays subscribed.
    const statuses: string[] = [];
    let synced = 0;
    const channel = victim.channel('plaza', { config: { presence: { key: 'victim' } } }).on('presence', { event: 'sync' }, () => {
      synced += 1;
    });
    const tracked = new Promise<string>((resolve) =>
      channel.subscribe((status) => {
        statuses.push(status);
        if (status === 'SUBSCRIBED') void channel.track({ status: 'online' }).then(resolve);
      }),
    );
    assert.equal(await tracked, 'ok');
    await waitFor(
      () => synced > 0 && shown(channel)['victim'] && Object.keys(channel.presenceState()).length === accepted + 1,
      "the sync of every accepted presence and the victim's",
    );

    // The attacker tries again with every socket, now that this process holds the channel's state: the refused stay refused.
    const again = await trackAll('3');
    assert.equal(again.filter((reply) => reply.status === 'ok').length, accepted);
    await sleep(500);
    assert.deepEqual(statuses, ['SUBSCRIBED'], 'the victim was never closed (4008) or rejoined');
    assert.equal(victim.realtime.isConnected(), true);
    assert.deepEqual(shown(channel)['victim'], [{ status: 'online' }]);
    for (const socket of sockets) assert.equal(socket.closeCode, undefined, 'the channel stays joined and the socket open');
  } finally {
    await victim.removeAllChannels();
    await Promise.all(sockets.map((socket) => socket.close()));
    await server.close();
  }
});

test('REALTIME_MAX_PRESENCE_STATE_BYTES defaults to 1048576 (half a smaller send buffer), and set explicitly must be below REALTIME_MAX_SEND_BUFFER_BYTES', () => {
  assert.equal(loadConfig({}).limits.maxPresenceStateBytes, 1_048_576);
  assert.equal(loadConfig({ REALTIME_MAX_PRESENCE_STATE_BYTES: '65536' }).limits.maxPresenceStateBytes, 65_536);
  assert.equal(loadConfig({ REALTIME_MAX_SEND_BUFFER_BYTES: '524288' }).limits.maxPresenceStateBytes, 262_144);
  assert.throws(
    () => loadConfig({ REALTIME_MAX_PRESENCE_STATE_BYTES: '4194304' }),
    /REALTIME_MAX_PRESENCE_STATE_BYTES \(4194304\) must be below REALTIME_MAX_SEND_BUFFER_BYTES \(4194304\)/,
  );
  assert.throws(
    () => loadConfig({ REALTIME_MAX_SEND_BUFFER_BYTES: '524288', REALTIME_MAX_PRESENCE_STATE_BYTES: '524288' }),
    /REALTIME_MAX_PRESENCE_STATE_BYTES \(524288\) must be below REALTIME_MAX_SEND_BUFFER_BYTES \(524288\)/,
  );
});

test('REALTIME_MAX_PRESENCE_BYTES sets the presence limit and names what it accepts', () => {
  assert.equal(loadConfig({}).limits.maxPresenceBytes, MAX_PRESENCE_BYTES);
  assert.equal(loadConfig({ REALTIME_MAX_PRESENCE_BYTES: '4096' }).limits.maxPresenceBytes, 4096);
  assert.throws(() => loadConfig({ REALTIME_MAX_PRESENCE_BYTES: 'lots' }), /REALTIME_MAX_PRESENCE_BYTES "lots" is not valid; expected a whole number from/);
});

test('NOTIFY on realtime:presence carries ids, never the metadata', async () => {
  const listener = new pg.Client({ connectionString: env.db.url });
  await listener.connect();
  const payloads: Array<Record<string, unknown>> = [];
  listener.on('notification', (note) => {
    if (note.payload) payloads.push(JSON.parse(note.payload) as Record<string, unknown>);
  });
  await listener.query('LISTEN "realtime:presence"');
  const client = await signedIn('quiet');
  try {
    const channel = presenceChannel(client, 'library', 'quiet');
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    assert.equal(await channel.track({ secret: 'do-not-broadcast' }), 'ok');
    const tracked = await realtime(['presence', 'track', 'erin', 'library', 'online', '{"secret":"cli-secret"}'], { databaseUrl: env.db.url });
    assert.equal(tracked.code, 0, tracked.stderr);
    await waitFor(() => payloads.some((note) => note['user_id'] === 'erin'), 'the notification of the CLI track');
    await waitFor(() => payloads.some((note) => note['user_id'] === 'quiet'), 'the notification of the client track');
    for (const note of payloads) {
      assert.equal(note['metadata'], undefined);
      assert.doesNotMatch(JSON.stringify(note), /secret/);
    }
  } finally {
    await client.removeAllChannels();
    await listener.end();
  }
});

test('any presence key a client chooses is an ordinary key, __proto__ too; a key longer than 255 characters is refused at join', async () => {
  const tracker = await RawClient.open(env.server, `vsn=2.0.0&apikey=${await token('odd')}`);
  const viewer = await RawClient.open(env.server, `vsn=2.0.0&apikey=${await token('viewer')}`);
  try {
    await viewer.join('realtime:odd-keys', '1', { presence: { key: 'viewer', enabled: true } });
    await tracker.join('realtime:odd-keys', '1', { presence: { key: '__proto__', enabled: true } });
    tracker.send(['1', '2', 'realtime:odd-keys', 'presence', { type: 'presence', event: 'track', payload: { here: true } }]);
    assert.deepEqual((await tracker.reply('2'))[4], { status: 'ok', response: {} });
    await waitFor(() => Object.keys(viewer.presence('realtime:odd-keys')).includes('__proto__'), 'the presence under "__proto__"');
    assert.deepEqual(viewer.presence('realtime:odd-keys')['__proto__'], [{ here: true }]);

    const refused = await tracker.join('realtime:long-key', '3', { presence: { key: 'k'.repeat(256), enabled: true } });
    assert.deepEqual(refused[4], { status: 'error', response: { reason: 'presence.key must be at most 255 characters' } });
  } finally {
    await tracker.close();
    await viewer.close();
  }
});
