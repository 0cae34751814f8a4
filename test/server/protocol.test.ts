// Protocol semantics with a raw client: heartbeat, replies, leave and close, duplicate joins, bad input, limits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PostgresChangesExtension } from '@nself/server';
import { RawClient } from './raw-client.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { startTestServer, useTestServer } from '../helpers/server.js';

const env = useTestServer();

test('heartbeats get an ok reply on the phoenix topic; V1 replies carry no join_ref', async () => {
  const v2 = await RawClient.open(env.server);
  v2.send([null, '9', 'phoenix', 'heartbeat', {}]);
  assert.deepEqual(await v2.reply('9'), [null, '9', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
  await v2.close();
  const v1 = await RawClient.open(env.server, 'vsn=1.0.0&apikey=dev');
  const frames: string[] = [];
  v1.ws.on('message', (data) => frames.push(data.toString()));
  v1.send({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: '3' });
  await waitFor(() => frames.length > 0, 'the V1 reply');
  assert.equal(frames[0], '{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"3"}');
  await v1.close();
});

test('join, leave and phx_close; unmatched topics and empty names get the exact errors', async () => {
  const client = await RawClient.open(env.server);
  assert.deepEqual(await client.join('realtime:room1', '1'), [
    '1',
    '1',
    'realtime:room1',
    'phx_reply',
    { status: 'ok', response: { postgres_changes: [], broadcast: { latest_offset: 0 } } },
  ]);
  client.send(['1', '2', 'realtime:room1', 'phx_leave', {}]);
  assert.deepEqual(await client.reply('2'), ['1', '2', 'realtime:room1', 'phx_reply', { status: 'ok', response: {} }]);
  await client.expect((frame) => frame[3] === 'phx_close' && frame[0] === '1' && frame[1] === '1', 'phx_close with the join ref');
  assert.deepEqual((await client.join('other:room', '3'))[4], { status: 'error', response: { reason: 'unmatched topic' } });
  assert.deepEqual((await client.join('realtime:', '4'))[4], { status: 'error', response: { reason: 'TopicNameRequired: You must provide a topic name' } });
  client.send(['1', '5', 'realtime:never-joined', 'broadcast', { type: 'broadcast', event: 'x', payload: {} }]);
  assert.deepEqual((await client.reply('5'))[4], { status: 'error', response: { reason: 'unmatched topic' } });
  await client.close();
});

test('a second join of the same topic closes the old incarnation first', async () => {
  const client = await RawClient.open(env.server);
  await client.join('realtime:twice', '1');
  const reply = await client.join('realtime:twice', '2');
  assert.equal((reply[4] as { status: string }).status, 'ok');
  const closeIndex = client.frames.findIndex((frame) => frame[3] === 'phx_close' && frame[0] === '1');
  const replyIndex = client.frames.findIndex((frame) => frame[1] === '2');
  assert.ok(closeIndex >= 0 && closeIndex < replyIndex, 'phx_close of join 1 comes before the reply to join 2');
  await client.close();
});

test('a server built without table changes refuses postgres_changes bindings with a clear reason', async () => {
  const withoutChanges = await startTestServer(env.db, { postgresChanges: () => undefined as unknown as PostgresChangesExtension });
  const client = await RawClient.open(withoutChanges);
  try {
    const reply = await client.join('realtime:todos', '1', { postgres_changes: [{ event: '*', schema: 'public', table: 'todos' }] });
    assert.deepEqual(reply[4], {
      status: 'error',
      response: { reason: 'RealtimeDisabledForConfiguration: postgres_changes subscriptions are not available on this server' },
    });
    assert.equal(((await client.join('realtime:plain', '2'))[4] as { status: string }).status, 'ok', 'joins without bindings still work');
  } finally {
    await client.close();
    await withoutChanges.close();
  }
});

test('malformed frames are dropped without harming the socket, its channels or other clients', async () => {
  const victim = await RawClient.open(env.server);
  const bystander = await RawClient.open(env.server);
  await victim.join('realtime:fuzz', '1');
  await bystander.join('realtime:fuzz', '1');
  const garbage: unknown[] = [
    'not json',
    '{"topic":',
    '[]',
    '[1,2,3]',
    '42',
    'null',
    '"text"',
    '[null,null,7,"x",{}]',
    '[null,null,"t","",{}]',
    '[{},{},"realtime:fuzz","phx_join",{}]',
    ['1', '2', 'realtime:fuzz', 'broadcast', 'not an object'],
    ['1', '3', 'realtime:fuzz', 'broadcast', { type: 'broadcast', event: 42, payload: {} }],
    ['1', '4', 'realtime:fuzz', 'presence', { type: 'presence', event: 'track', payload: [1, 2] }],
    ['1', '5', 'realtime:fuzz', 'presence', { type: 'presence', event: 'dance' }],
    ['1', '6', 'realtime:fuzz', 'access_token', { access_token: 12 }],
    [null, '7', 'realtime:fuzzy', 'phx_join', { config: { postgres_changes: 'all' } }],
    [null, '8', 'realtime:fuzzier', 'phx_join', { config: { broadcast: { resume: { offset: -1 } } } }],
    Buffer.from([3, 200, 200, 200, 200, 200, 1]),
    Buffer.from([9, 1, 2]),
    Buffer.from([]),
  ];
  for (let index = 0; index < 200; index++) {
    const bytes = Buffer.alloc(1 + (index % 40));
    for (let offset = 0; offset < bytes.length; offset++) bytes[offset] = (index * 31 + offset * 17) % 256;
    bytes[0] = index % 2 === 0 ? 3 : (bytes[0] ?? 0);
    garbage.push(bytes);
  }
  for (const frame of garbage) victim.send(frame);
  assert.deepEqual((await victim.reply('4'))[4], { status: 'error', response: { reason: 'Presence track payload must be a map' } });
  assert.equal(((await victim.reply('5'))[4] as { status: string }).status, 'error');
  assert.deepEqual((await victim.reply('7'))[4], { status: 'error', response: { reason: 'postgres_changes must be a list of {event, schema, table, filter} bindings' } });
  assert.deepEqual((await victim.reply('8'))[4], { status: 'error', response: { reason: 'InvalidResume: broadcast.resume.offset must be a whole number of 0 or more' } });
  victim.send(['1', '9', 'realtime:fuzz', 'broadcast', { type: 'broadcast', event: 'still-alive', payload: { ok: true } }]);
  const delivered = await bystander.expect((frame) => frame[3] === 'broadcast' && (frame[4] as { event?: string }).event === 'still-alive', 'the broadcast after the garbage');
  assert.deepEqual((delivered[4] as { payload: unknown }).payload, { ok: true });
  victim.send([null, '10', 'phoenix', 'heartbeat', {}]);
  await victim.reply('10');
  assert.equal(victim.closeCode, undefined, 'the socket stays open');
  await victim.close();
  await bystander.close();
});

test('an oversized frame closes only that socket with 1009', async () => {
  const small = await startTestServer(env.db, { limits: { maxFrameBytes: 2048 } });
  const client = await RawClient.open(small);
  const other = await RawClient.open(small);
  client.send(['1', '1', 'realtime:big', 'phx_join', { pad: 'x'.repeat(4096) }]);
  assert.equal(await client.closed(), 1009);
  other.send([null, '1', 'phoenix', 'heartbeat', {}]);
  await other.reply('1');
  await other.close();
  await small.close();
});

test('channel, join and message limits answer with the hosted error texts', async () => {
  const strict = await startTestServer(env.db, { limits: { maxChannelsPerConnection: 2, maxJoinsPerSecond: 1000, maxMessagesPerSecond: 5 } });
  try {
    const client = await RawClient.open(strict);
    await client.join('realtime:a', '1');
    await client.join('realtime:b', '2');
    assert.deepEqual((await client.join('realtime:c', '3'))[4], { status: 'error', response: { reason: 'ChannelRateLimitReached: Too many channels' } });
    for (let index = 0; index < 10; index++) client.send(['1', `m${index}`, 'realtime:a', 'broadcast', { type: 'broadcast', event: 'spam', payload: {} }]);
    const system = await client.expect((frame) => frame[3] === 'system', 'the system error');
    assert.deepEqual(system, ['1', null, 'realtime:a', 'system', { extension: 'system', status: 'error', message: 'Too many messages per second', channel: 'a' }]);
    await client.expect((frame) => frame[3] === 'phx_close' && frame[2] === 'realtime:a', 'phx_close after the limit');
    await client.close();

    const joiner = await startTestServer(env.db, { limits: { maxJoinsPerSecond: 2 } });
    const flood = await RawClient.open(joiner);
    for (const ref of ['1', '2', '3']) flood.send([ref, ref, `realtime:j${ref}`, 'phx_join', {}]);
    assert.deepEqual((await flood.reply('3'))[4], { status: 'error', response: { reason: 'ClientJoinRateLimitReached: Too many joins per second' } });
    assert.equal(await flood.closed(), 1008);
    await joiner.close();
  } finally {
    await strict.close();
  }
});

test('a silent socket is closed after the idle timeout, and a slow reader is closed with 4008', async () => {
  const quick = await startTestServer(env.db, { limits: { idleTimeoutMs: 300, maxSendBufferBytes: 1024 } });
  try {
    const silent = await RawClient.open(quick);
    assert.equal(await silent.closed(3_000), 4000);
  } finally {
    await quick.close();
  }
  const tight = await startTestServer(env.db, { limits: { maxSendBufferBytes: 65_536 } });
  try {
    const healthy = await RawClient.open(tight);
    await healthy.join('realtime:firehose', '1');

    const slow = await RawClient.open(tight);
    await slow.join('realtime:firehose', '1');
    slow.ws.pause();
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const {
      rows: [channel],
    } = await env.db.pool.query(`SELECT id FROM realtime.channels WHERE slug = 'firehose'`);
    for (let index = 0; index < 150; index++) {
      await env.db.pool.query(`SELECT realtime.append_message($1, 'fill', $2::jsonb)`, [channel.id, JSON.stringify({ pad: 'x'.repeat(100_000) })]);
    }
    await waitFor(() => healthy.frames.filter((frame) => frame[3] === 'broadcast').length === 150, 'the healthy reader getting everything');
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    slow.ws.resume();
    assert.equal(await slow.closed(5_000), 4008);
    assert.equal(healthy.closeCode, undefined, 'the healthy reader is unaffected');
    await healthy.close();
  } finally {
    await tight.close();
  }
});

test('HTTP: healthcheck, ping, readiness, metrics, CORS, and REST broadcasts reaching subscribers', async () => {
  const health = await fetch(`${env.server.url}/healthcheck`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), 'ok');
  for (const path of ['/api/ping', '/realtime/v1/api/ping']) {
    const ping = await fetch(`${env.server.url}${path}`);
    assert.deepEqual(await ping.json(), { message: 'Success' });
  }
  assert.equal((await fetch(`${env.server.url}/ready`)).status, 200);
  const preflight = await fetch(`${env.server.url}/api/broadcast`, { method: 'OPTIONS' });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-origin'), '*');

  const listener = await RawClient.open(env.server);
  await listener.join('realtime:rest-room', '1');
  const batch = await fetch(`${env.server.url}/realtime/v1/api/broadcast?apikey=dev&vsn=2.0.0`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', apikey: 'dev' },
    body: JSON.stringify({ messages: [{ topic: 'rest-room', event: 'from-rest', payload: { n: 1 } }] }),
  });
  assert.equal(batch.status, 202);
  await listener.expect((frame) => frame[3] === 'broadcast' && (frame[4] as { event?: string }).event === 'from-rest', 'the batch broadcast');
  const single = await fetch(`${env.server.url}/api/broadcast/${encodeURIComponent('rest-room')}/events/${encodeURIComponent('one shot')}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ y: 2 }),
  });
  assert.equal(single.status, 202);
  const frame = await listener.expect((candidate) => (candidate[4] as { event?: string }).event === 'one shot', 'the single broadcast');
  assert.deepEqual((frame[4] as { payload: unknown }).payload, { y: 2 });
  const binary = await fetch(`${env.server.url}/api/broadcast/rest-room/events/bytes`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array([7, 8]),
  });
  assert.equal(binary.status, 202);
  const kind4 = await waitFor(() => listener.binaries[0], 'the kind-4 frame');
  assert.equal(kind4[0], 4);
  assert.deepEqual([...kind4.subarray(kind4.length - 2)], [7, 8]);
  const wrongType = await fetch(`${env.server.url}/api/broadcast/rest-room/events/x`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' });
  assert.equal(wrongType.status, 415);
  assert.deepEqual(await wrongType.json(), { error: 'Unsupported Media Type. Use application/json or application/octet-stream' });
  const invalid = await fetch(`${env.server.url}/api/broadcast`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"messages":[{"event":"x"}]}' });
  assert.equal(invalid.status, 422);
  assert.deepEqual(await invalid.json(), { errors: { 'messages[0].topic': ['must be a string: the channel name'] } });
  await listener.close();

  await sleep(50);
  const metrics = await (await fetch(`${env.server.url}/metrics`)).text();
  for (const name of [
    'realtime_connections',
    'realtime_channels',
    'realtime_messages_in_total',
    'realtime_messages_out_total',
    'realtime_delivery_latency_seconds_bucket',
    'realtime_join_duration_seconds_bucket',
    'realtime_listener_reconnects_total',
  ]) {
    assert.match(metrics, new RegExp(`^${name}`, 'm'), name);
  }
  assert.match(metrics, /^realtime_messages_out_total\{kind="broadcast"\} [1-9]/m);
  assert.match(metrics, /^realtime_join_duration_seconds_count\{history="none"\} [1-9]/m);
});
