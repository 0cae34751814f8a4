// Lossless reconnect: a server restarted mid-stream, sends made while offline, the bounded offline queue.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServer, connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { RealtimeError, type ConnectionState } from '@nself/client';
import { realtimeSuite, subscribed } from './support.js';
import { waitFor } from '../helpers/wait.js';

const suite = realtimeSuite();
const newClient = (options: { maxQueuedSends?: number } = {}) => suite.client({ heartbeatIntervalMs: 1000, ...options });

/** The channel's log: every stored offset, in order. */
async function logOf(slug: string): Promise<number[]> {
  const { rows } = await suite.server.db.pool.query<{ offset: string }>(
    `SELECT m.channel_offset AS offset FROM realtime.messages m JOIN realtime.channels c ON c.id = m.channel_id
     WHERE c.slug = $1 ORDER BY m.channel_offset`,
    [slug],
  );
  return rows.map((row) => Number(row.offset));
}

/** Broadcasts `count` messages from SQL, one every few milliseconds. */
async function produce(slug: string, count: number): Promise<void> {
  for (let index = 1; index <= count; index++) {
    await suite.server.db.pool.query('SELECT realtime.broadcast($1, $2, $3::jsonb, NULL)', [slug, 'tick', JSON.stringify({ n: index })]);
    await sleep(3);
  }
}

test('the server restarted during a stream: the received sequence equals the channel log, nothing lost or repeated', async () => {
  const client = newClient();
  const states: ConnectionState[] = [];
  client.onStateChange((state) => states.push(state));
  const received: number[] = [];
  const payloads: number[] = [];
  const channel = client.channel('stream').on<{ n: number }>('tick', (payload, message) => {
    received.push(message.offset ?? -1);
    payloads.push(payload.n);
  });
  await subscribed(channel);

  const producing = produce('stream', 400);
  await waitFor(() => received.length >= 50, 'the stream to start');
  await suite.server.stop();
  await waitFor(() => client.state === 'reconnecting', 'the client to notice');
  await sleep(300);
  await suite.server.start();
  await producing;

  const log = await logOf('stream');
  assert.equal(log.length, 400);
  await waitFor(() => received.length >= log.length, 'every message of the log', 20_000);
  await sleep(200);
  assert.deepEqual(received, log);
  assert.deepEqual(
    payloads,
    Array.from({ length: 400 }, (_, index) => index + 1),
  );
  assert.ok(states.includes('reconnecting') && states.at(-1) === 'open', `states seen: ${states.join(' → ')}`);
});

test('a channel that had received nothing yet still gets what was sent while it was offline', async () => {
  const client = newClient();
  const received: number[] = [];
  const channel = client.channel('quiet').on<{ n: number }>('tick', (payload) => received.push(payload.n));
  await subscribed(channel);
  await suite.server.stop();
  await waitFor(() => client.state === 'reconnecting', 'the client to notice');
  await suite.server.db.pool.query("SELECT realtime.broadcast('quiet', 'tick', '{\"n\": 1}'::jsonb, NULL)");
  await suite.server.db.pool.query("SELECT realtime.broadcast('quiet', 'tick', '{\"n\": 2}'::jsonb, NULL)");
  await suite.server.start();
  await waitFor(() => received.length >= 2, 'both offline messages');
  assert.deepEqual(received, [1, 2]);
});

test('sends made while offline wait, go out in order once rejoined, and are stored once', async () => {
  const sender = newClient();
  const listener = newClient();
  const heard: string[] = [];
  await subscribed(listener.channel('outbox').on<{ text: string }>('note', (payload) => heard.push(payload.text)));
  const channel = sender.channel('outbox');
  await subscribed(channel);

  await suite.server.stop();
  await waitFor(() => sender.state === 'reconnecting', 'the sender to notice');
  const receipts = ['one', 'two', 'three'].map((text) => channel.send({ type: 'broadcast', event: 'note', payload: { text } }));
  await sleep(200);
  await suite.server.start();
  const results = await Promise.all(receipts);
  assert.equal(results.length, 3);
  await waitFor(() => heard.length >= 3, 'the listener to hear all three');
  await sleep(200);
  assert.deepEqual(heard, ['one', 'two', 'three']);
  assert.equal((await logOf('outbox')).length, 3);
});

test('the offline queue is bounded: one send too many is refused with QUEUE_FULL, the others still go out', async () => {
  const client = newClient({ maxQueuedSends: 2 });
  const channel = client.channel('bounded');
  await subscribed(channel);
  await suite.server.stop();
  await waitFor(() => client.state === 'reconnecting', 'the client to notice');
  const first = channel.send({ type: 'broadcast', event: 'note', payload: { n: 1 } });
  const second = channel.send({ type: 'broadcast', event: 'note', payload: { n: 2 } });
  await assert.rejects(channel.send({ type: 'broadcast', event: 'note', payload: { n: 3 } }), (error: unknown) => {
    assert.ok(error instanceof RealtimeError);
    assert.equal(error.code, 'QUEUE_FULL');
    assert.match(error.message, /channel "bounded" already has 2 messages waiting for the connection; wait for it to reconnect or raise maxQueuedSends/);
    return true;
  });
  await suite.server.start();
  await Promise.all([first, second]);
  assert.deepEqual(await logOf('bounded'), [1, 2]);
});

test('an acknowledged send resolves once stored; unsubscribe rejects what still waits', async () => {
  const client = newClient();
  const channel = client.channel('acks');
  const receipt = await channel.send({ type: 'broadcast', event: 'note', payload: { text: 'stored' } });
  const log = await logOf('acks');
  assert.equal(log.length, 1, 'the message is in the log when send() resolves');
  assert.equal(receipt.offset, log[0], 'the receipt carries the stored offset');

  await suite.server.stop();
  await waitFor(() => client.state === 'reconnecting', 'the client to notice');
  const waiting = channel.send({ type: 'broadcast', event: 'note', payload: { text: 'never' } });
  await channel.unsubscribe();
  await assert.rejects(waiting, /channel "acks" is closed; get a new one with client.channel\("acks"\)/);
  await suite.server.start();
});

test('my own messages are not handed back to me when a resume replays them (self: false)', async () => {
  const me = newClient();
  const other = newClient();
  const heard: string[] = [];
  const mine = me.channel('own').on<{ text: string }>('note', (payload) => heard.push(payload.text));
  await subscribed(mine);
  const theirs = other.channel('own');
  await subscribed(theirs);
  await theirs.send({ type: 'broadcast', event: 'note', payload: { text: 'from them 1' } });
  await waitFor(() => heard.length === 1, 'their first message');
  await mine.send({ type: 'broadcast', event: 'note', payload: { text: 'from me' } });
  await suite.server.stop();
  await waitFor(() => me.state === 'reconnecting', 'the client to notice');
  await suite.server.db.pool.query("SELECT realtime.broadcast('own', 'note', '{\"text\": \"from them 2\"}'::jsonb, NULL)");
  await suite.server.start();
  await waitFor(() => heard.length >= 2, 'their second message');
  await sleep(300);
  assert.deepEqual(heard, ['from them 1', 'from them 2']);
  assert.equal((await logOf('own')).length, 3);
});

test('a server that is not up yet: the channel reports it once, naming the address, then joins when the server starts', async () => {
  await suite.server.stop();
  const client = newClient();
  const reports: string[] = [];
  client.channel('early').subscribe((status, error) => reports.push(error ? `${status}: ${error.message}` : status));
  await waitFor(() => reports.length > 0, 'the first failed attempt');
  await sleep(400);
  assert.deepEqual(reports, [`CHANNEL_ERROR: could not connect to ${suite.server.url} (1006)`]);
  await suite.server.start();
  await waitFor(() => reports.includes('SUBSCRIBED'), 'the join');
  assert.equal(client.state, 'open');
});

test('a connection that silently stops carrying data is caught by heartbeats; the client reconnects and misses nothing', async () => {
  const proxy = await startFreezableProxy(suite.server.port);
  try {
    const client = suite.client({ url: `ws://127.0.0.1:${proxy.port}`, heartbeatIntervalMs: 200 });
    const reasons: string[] = [];
    client.onStateChange((state, detail) => reasons.push(`${state}${detail.reason ? `: ${detail.reason}` : ''}`));
    const received: number[] = [];
    await subscribed(client.channel('silent').on<{ n: number }>('tick', (payload) => received.push(payload.n)));
    proxy.freeze();
    await produce('silent', 5);
    await waitFor(() => reasons.includes('reconnecting: heartbeat timeout'), 'the heartbeat timeout');
    await waitFor(() => received.length >= 5, 'all five messages');
    await sleep(200);
    assert.deepEqual(received, [1, 2, 3, 4, 5]);
    assert.equal(client.state, 'open');
  } finally {
    proxy.close();
  }
});

/** A TCP proxy to `port` whose current connections can be frozen: bytes stop flowing, nothing is closed. */
async function startFreezableProxy(port: number): Promise<{ port: number; freeze(): void; close(): void }> {
  const sockets: Socket[] = [];
  let live: Array<[Socket, Socket]> = [];
  const server = createServer((downstream) => {
    const upstream = connect(port, '127.0.0.1');
    downstream.pipe(upstream);
    upstream.pipe(downstream);
    for (const socket of [downstream, upstream]) {
      socket.on('error', () => undefined);
      sockets.push(socket);
    }
    live.push([downstream, upstream]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    freeze() {
      for (const [downstream, upstream] of live) {
        downstream.unpipe(upstream);
        upstream.unpipe(downstream);
        downstream.pause();
        upstream.pause();
      }
      live = [];
    },
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
