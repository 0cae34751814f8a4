// A client offline for a while gets exactly what it missed on reconnect: through the SDK's resume, and through supabase-js's replay option.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RealtimeChannel as SupabaseChannel } from '@supabase/realtime-js';
import { realtimeSuite, subscribed } from '../client/support.js';
import { subscribe, supabase } from '../server/support.js';
import { assertExactlyOnceInOrder, logOffsets } from './checker.js';
import { startSwitchableProxy, type SwitchableProxy } from './proxy.js';
import { waitFor } from '../helpers/wait.js';
import { token } from '../helpers/tokens.js';

const suite = realtimeSuite();
const proxies: SwitchableProxy[] = [];
after(() => Promise.all(proxies.map((proxy) => proxy.close())));

async function broadcast(channel: string, from: number, to: number): Promise<void> {
  await suite.server.db.pool.query("SELECT realtime.broadcast($1, 'tick', jsonb_build_object('n', n), NULL) FROM generate_series($2::int, $3::int) AS n", [channel, from, to]);
}

/** An SDK client that reaches the server through a proxy that can take it offline. */
async function clientBehindProxy() {
  const proxy = await startSwitchableProxy(suite.server.port);
  proxies.push(proxy);
  return { proxy, client: suite.client({ url: `ws://127.0.0.1:${proxy.port}`, heartbeatIntervalMs: 500 }) };
}

test('SDK: offline for a while, the channel resumes from its last offset and gets exactly the missed messages, then live ones', async () => {
  const { proxy, client } = await clientBehindProxy();
  const offsets: number[] = [];
  const replayed: number[] = [];
  const channel = client.channel('away').on<{ n: number }>('tick', (_payload, message) => {
    offsets.push(message.offset ?? -1);
    if (message.replayed) replayed.push(message.offset ?? -1);
  });
  await subscribed(channel);
  await broadcast('away', 1, 20);
  await waitFor(() => offsets.length >= 20, 'the live messages');

  proxy.cut();
  await waitFor(() => client.state === 'reconnecting', 'the client to notice it is offline');
  await broadcast('away', 21, 60);
  await sleep(1_000);
  proxy.restore();
  await waitFor(() => client.state === 'open' && channel.state === 'joined', 'the client to be back');
  await broadcast('away', 61, 70);

  const log = await logOffsets(suite.server.db.pool, 'away');
  await waitFor(
    () => offsets.length >= log.length,
    () => `all ${log.length} messages (got ${offsets.length})`,
  );
  await sleep(100);
  assertExactlyOnceInOrder(log, new Map([['sdk client', offsets]]));
  assert.deepEqual(
    replayed,
    Array.from({ length: 40 }, (_, index) => index + 21),
    'the missed messages came as replayed ones',
  );
});

test('SDK: a table channel that had received nothing yet gets the changes committed while it was offline', async () => {
  await suite.server.db.pool.query('CREATE TABLE public.offline_items (id serial PRIMARY KEY, label text NOT NULL)');
  const { proxy, client } = await clientBehindProxy();
  const labels: string[] = [];
  const channel = client.channel('realtime:table:public.offline_items').on<{ label: string }>('INSERT', (change) => labels.push(change.new.label));
  await subscribed(channel);

  proxy.cut();
  await waitFor(() => client.state === 'reconnecting', 'the client to notice it is offline');
  await suite.server.db.pool.query("INSERT INTO public.offline_items (label) VALUES ('while away 1'), ('while away 2')");
  await sleep(500);
  proxy.restore();
  await waitFor(() => client.state === 'open' && channel.state === 'joined', 'the client to be back');
  await suite.server.db.pool.query("INSERT INTO public.offline_items (label) VALUES ('live')");
  await waitFor(
    () => labels.length >= 3,
    () => `three changes (got ${labels.join(', ')})`,
  );
  await sleep(100);
  assert.deepEqual(labels, ['while away 1', 'while away 2', 'live']);
});

test('supabase-js: rejoining with config.broadcast.replay since the time it left gets the missed messages, replayed, then live ones', async () => {
  await suite.server.db.pool.query("INSERT INTO realtime.channels (slug, name, type) VALUES ('vault', 'vault', 'private')");
  await suite.server.db.pool.query("INSERT INTO realtime.channel_members (channel_id, user_id) SELECT id, 'user-1' FROM realtime.channels WHERE slug = 'vault'");
  const client = supabase(suite.server, { accessToken: await token('user-1') });
  type Received = { offset: number; replayed: boolean };
  const listen = (channel: SupabaseChannel, into: Received[]) =>
    channel.on('broadcast', { event: 'tick' }, (message) => {
      const meta = (message as { meta?: { offset: number; replayed?: boolean } }).meta;
      into.push({ offset: meta?.offset ?? -1, replayed: meta?.replayed === true });
    });
  try {
    await client.realtime.setAuth();
    const before: Received[] = [];
    const first = listen(client.channel('vault', { config: { private: true } }), before);
    const joined = await subscribe(first);
    assert.equal(joined.status, 'SUBSCRIBED', joined.error?.message);
    await broadcast('vault', 1, 10);
    await waitFor(() => before.length >= 10, 'the live messages');
    await client.removeChannel(first);
    await sleep(5);
    const leftAt = Date.now();

    await broadcast('vault', 11, 20);
    await sleep(500);
    const after: Received[] = [];
    const again = listen(client.channel('vault', { config: { private: true, broadcast: { replay: { since: leftAt, limit: 25 } } } }), after);
    assert.equal((await subscribe(again)).status, 'SUBSCRIBED');
    await waitFor(() => after.length >= 10, 'the replayed messages');
    await broadcast('vault', 21, 25);

    const log = await logOffsets(suite.server.db.pool, 'vault');
    await waitFor(
      () => before.length + after.length >= log.length,
      () => `every message (got ${before.length} + ${after.length})`,
    );
    await sleep(100);
    assertExactlyOnceInOrder(log, new Map([['supabase-js', [...before, ...after].map((message) => message.offset)]]));
    assert.deepEqual(
      after.filter((message) => message.replayed).map((message) => message.offset),
      [11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
    );
    assert.ok(
      after.slice(10).every((message) => !message.replayed),
      'live messages after the replay are not marked replayed',
    );
  } finally {
    await client.removeAllChannels();
  }
});
