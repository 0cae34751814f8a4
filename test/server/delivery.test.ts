// Every way in reaches supabase-js subscribers: the CLI, SQL, another server process; and nothing is lost
// when the listener's connection is killed or the server restarts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { realtime } from '../helpers/cli.js';
import { RawClient } from './raw-client.js';
import { subscribe, supabase } from './support.js';
import { freePort, startServerProcess } from '../helpers/server-process.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { useTestServer } from '../helpers/server.js';

const env = useTestServer();

test('a CLI broadcast and a SQL realtime.broadcast() reach a supabase-js subscriber', async () => {
  const client = supabase(env.server);
  try {
    const received: Array<{ event: string; payload: unknown }> = [];
    const channel = client.channel('general').on('broadcast', { event: '*' }, (message) => received.push(message as unknown as { event: string; payload: unknown }));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    const result = await realtime(['broadcast', 'general', 'user.joined', '{"user_id":"123"}'], { databaseUrl: env.db.url });
    assert.equal(result.code, 0, result.stderr);
    await env.db.pool.query(`SELECT realtime.broadcast('general', 'from.sql', '{"n": 2}'::jsonb)`);
    await waitFor(() => received.length === 2, 'both broadcasts');
    assert.deepEqual(
      received.map(({ event, payload }) => ({ event, payload })),
      [
        { event: 'user.joined', payload: { user_id: '123' } },
        { event: 'from.sql', payload: { n: 2 } },
      ],
    );
  } finally {
    await client.removeAllChannels();
  }
});

test('two server processes on one database exchange broadcasts and presence', async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  const a = await startServerProcess(env.db.url, portA);
  const b = await startServerProcess(env.db.url, portB);
  const onA = supabase({ port: portA });
  const onB = supabase({ port: portB });
  try {
    const seenOnA: unknown[] = [];
    const seenOnB: unknown[] = [];
    const joinsOnB: string[] = [];
    const channelA = onA.channel('cluster', { config: { presence: { key: 'on-a' } } }).on('broadcast', { event: 'hi' }, (m) => seenOnA.push(m.payload));
    const channelB = onB
      .channel('cluster', { config: { presence: { key: 'on-b' } } })
      .on('broadcast', { event: 'hi' }, (m) => seenOnB.push(m.payload))
      .on('presence', { event: 'join' }, ({ key }) => joinsOnB.push(key));
    assert.equal((await subscribe(channelA)).status, 'SUBSCRIBED');
    assert.equal((await subscribe(channelB)).status, 'SUBSCRIBED');
    await channelA.send({ type: 'broadcast', event: 'hi', payload: { from: 'a' } });
    await channelB.send({ type: 'broadcast', event: 'hi', payload: { from: 'b' } });
    await waitFor(() => seenOnB.length === 1 && seenOnA.length === 1, 'each side receiving the other');
    assert.deepEqual(seenOnB, [{ from: 'a' }]);
    assert.deepEqual(seenOnA, [{ from: 'b' }]);
    assert.equal(await channelA.track({ where: 'a' }), 'ok');
    await waitFor(() => joinsOnB.includes('on-a'), 'presence from process A seen on process B');
  } finally {
    await onA.removeAllChannels();
    await onB.removeAllChannels();
    assert.equal(await a.stop(), 0);
    assert.equal(await b.stop(), 0);
  }
});

test('killing the LISTEN connection during a stream of broadcasts loses none, duplicates none, keeps order', async () => {
  const clients = [supabase(env.server), supabase(env.server, { vsn: '1.0.0' })];
  try {
    const logs: number[][] = [[], []];
    for (const [index, client] of clients.entries()) {
      const channel = client.channel('stream').on('broadcast', { event: 'tick' }, (message) => logs[index]?.push((message.payload as { n: number }).n));
      assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    }
    const total = 300;
    const writer = (async () => {
      for (let n = 1; n <= total; n++) {
        await env.db.pool.query(`SELECT realtime.broadcast('stream', 'tick', $1::jsonb)`, [JSON.stringify({ n })]);
        if (n % 50 === 0) await sleep(20);
      }
    })();
    for (let kill = 0; kill < 3; kill++) {
      await sleep(60);
      await env.server.listener.ready();
      const pid = await env.server.listener.backendPid();
      await env.db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    }
    await writer;
    await waitFor(() => logs.every((log) => log.length >= total), 'every tick on both clients', 20_000);
    await sleep(200);
    const expected = Array.from({ length: total }, (_, index) => index + 1);
    assert.deepEqual(logs[0], expected);
    assert.deepEqual(logs[1], expected);
    const metrics = await (await fetch(`${env.server.url}/metrics`)).text();
    assert.match(metrics, /^realtime_listener_reconnects_total [1-9]/m);
  } finally {
    await Promise.all(clients.map((client) => client.removeAllChannels()));
  }
});

test('after a server restart supabase-js reconnects by itself, and resume by offset replays what was missed', async () => {
  const port = await freePort();
  let serverProcess = await startServerProcess(env.db.url, port);
  const client = supabase({ port });
  try {
    const received: string[] = [];
    const channel = client.channel('restartable').on('broadcast', { event: 'step' }, (message) => received.push((message.payload as { step: string }).step));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    await env.db.pool.query(`SELECT realtime.broadcast('restartable', 'step', '{"step":"before"}')`);
    await waitFor(() => received.includes('before'), 'the broadcast before the restart');

    const raw = await RawClient.open({ port });
    await raw.join('realtime:restartable', '1', { presence: { key: 'grace', enabled: true } });
    raw.send(['1', '2', 'realtime:restartable', 'presence', { type: 'presence', event: 'track', payload: { here: true } }]);
    await raw.reply('2');
    const pid = serverProcess.child.pid;
    const connectionsOf = async (status: string) =>
      (await env.db.pool.query(`SELECT count(*)::int AS n FROM realtime.connections WHERE server_id LIKE $1 AND status = $2`, [`%:${pid}:%`, status])).rows[0].n as number;
    assert.equal(await connectionsOf('connected'), 2);
    assert.equal(await serverProcess.stop('SIGTERM'), 0, 'SIGTERM exits 0');
    assert.equal(await raw.closed(), 1001, 'sockets are closed with 1001 at shutdown');
    assert.equal(await connectionsOf('connected'), 0, 'its connections are marked disconnected');
    assert.equal(await connectionsOf('disconnected'), 2);
    const { rows } = await env.db.pool.query(`SELECT status FROM realtime.presence WHERE user_id = 'grace'`);
    assert.deepEqual(rows, [{ status: 'offline' }], 'its presence is turned offline');

    await env.db.pool.query(`SELECT realtime.broadcast('restartable', 'step', '{"step":"while-down"}')`);
    serverProcess = await startServerProcess(env.db.url, port);
    await waitFor(() => channel.state === 'joined', 'supabase-js rejoining after the restart', 15_000);
    await env.db.pool.query(`SELECT realtime.broadcast('restartable', 'step', '{"step":"after"}')`);
    await waitFor(() => received.includes('after'), 'the broadcast after the restart');

    const resumed = await RawClient.open({ port });
    const reply = await resumed.join('realtime:restartable', '1', { broadcast: { resume: { offset: 1 } } });
    assert.deepEqual((reply[4] as { response: { resume: unknown } }).response.resume, { recovered: true, offset: 1, earliest_offset: 1, latest_offset: 3 });
    const replayed = await waitFor(() => {
      const steps = resumed.frames.filter((frame) => frame[3] === 'broadcast').map((frame) => frame[4] as { payload: { step: string }; meta: { replayed?: boolean } });
      return steps.length === 2 ? steps : undefined;
    }, 'the replayed broadcasts');
    assert.deepEqual(
      replayed.map((message) => [message.payload.step, message.meta.replayed]),
      [
        ['while-down', true],
        ['after', true],
      ],
    );
    await resumed.close();
  } finally {
    await client.removeAllChannels();
    await serverProcess.stop('SIGINT');
  }
});
