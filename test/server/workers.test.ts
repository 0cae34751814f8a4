// A server of several worker processes on one port (REALTIME_WORKERS): clients of different workers see one server,
// a killed worker is replaced and its clients resume with nothing lost, metrics add up, sweeps run once, SIGTERM drains.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { RealtimeClient } from '@nself/client';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { assertExactlyOnceInOrder, logOffsets } from '../history/checker.js';
import { publishStream } from '../history/publisher.js';
import { subscribe, supabase } from './support.js';

const WORKERS = 2;
let db: TestDatabase;
let server: ServerProcess;
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  db = await createTestDatabase({ migrated: true });
  await db.pool.query('CREATE TABLE notes (id serial PRIMARY KEY, body text)');
  server = await startServerProcess(db.url, await freePort(), { REALTIME_WORKERS: String(WORKERS), REALTIME_SWEEP_INTERVAL_MS: '200' });
  await waitFor(() => workerPids().size === WORKERS, 'every worker to listen');
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await server?.stop();
  await db?.drop();
});

/** The pid of each worker index, from the log lines (the latest process of each index). */
function workerPids(): Map<number, number> {
  const pids = new Map<number, number>();
  for (const line of server.output().split('\n')) {
    const match = /"pid":(\d+),"worker":(\d+),"code":"server\.listening"/.exec(line);
    if (match) pids.set(Number(match[2]), Number(match[1]));
  }
  return pids;
}

async function metrics(path: '/metrics' | '/metrics/workers'): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${server.port}${path}`);
  assert.equal(response.status, 200);
  return response.text();
}

/** The value of `name{labels}` in Prometheus text, 0 when absent. */
function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((entry) => entry.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

test('clients spread over the workers receive one broadcast, one presence diff and one table change, and /metrics adds the workers up', async () => {
  const clients: SupabaseClient[] = [];
  cleanups.push(async () => Promise.all(clients.map((client) => client.removeAllChannels())));
  const seen = new Map<number, { broadcasts: string[]; joins: string[]; changes: string[] }>();
  const channels = [];
  for (let index = 0; index < 4; index++) {
    const client = supabase(server);
    clients.push(client);
    const record = { broadcasts: [] as string[], joins: [] as string[], changes: [] as string[] };
    seen.set(index, record);
    const channel = client
      .channel('spread', { config: { presence: { key: `user-${index}` } } })
      .on('broadcast', { event: 'hello' }, (message) => record.broadcasts.push(String((message.payload as { text?: string }).text)))
      .on('presence', { event: 'join' }, ({ key }) => record.joins.push(key))
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'notes' }, (change) => record.changes.push(String((change.new as { body?: string }).body)));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    channels.push(channel);
  }
  const perWorker = await metrics('/metrics/workers');
  for (let worker = 1; worker <= WORKERS; worker++) {
    assert.ok(sample(perWorker, 'realtime_connections', `worker="${worker}"`) >= 1, `worker ${worker} holds a connection:\n${perWorker}`);
  }
  assert.equal(sample(await metrics('/metrics'), 'realtime_connections'), 4, 'the server view sums the workers');
  const inspector = (await (await fetch(`http://127.0.0.1:${server.port}/inspector/api/state`)).json()) as { server: { connections: number } };
  assert.equal(inspector.server.connections, 4, 'the inspector shows the whole server, whichever worker answers');

  await channels[0]?.send({ type: 'broadcast', event: 'hello', payload: { text: 'from one worker' } });
  await channels[1]?.track({ online: true });
  await sleep(300); // the subscriptions of the table changes are live by now on every worker
  await db.pool.query("INSERT INTO notes (body) VALUES ('written once')");
  await waitFor(
    () => [...seen.entries()].every(([index, record]) => (index === 0 || record.broadcasts.length === 1) && record.joins.includes('user-1') && record.changes.length === 1),
    () => `every client to see the broadcast, the join and the change: ${JSON.stringify([...seen])}`,
  );
  assert.deepEqual(
    [...seen.values()].map((record) => record.changes),
    Array(4).fill(['written once']),
  );
});

test('sweeps run in one worker only, and another takes them over when it dies', async () => {
  await sleep(1_000);
  const before = await metrics('/metrics/workers');
  const leaders = [1, 2].filter((worker) => sample(before, 'realtime_sweep_leading', `worker="${worker}"`) === 1);
  assert.equal(leaders.length, 1, `one worker leads the sweeps:\n${before}`);
  const leader = leaders[0] as number;
  const other = leader === 1 ? 2 : 1;
  assert.ok(sample(before, 'realtime_sweeps_total', `kind="connections",worker="${leader}"`) >= 3, 'the leader sweeps every 200 ms');
  assert.equal(sample(before, 'realtime_sweeps_total', `kind="connections",worker="${other}"`), 0, 'the other worker never sweeps');

  const pid = workerPids().get(leader);
  assert.ok(pid);
  process.kill(pid, 'SIGKILL');
  await waitFor(() => workerPids().get(leader) !== pid, 'a replacement worker', 20_000);
  await waitFor(async () => {
    const now = await metrics('/metrics/workers');
    return sample(now, 'realtime_sweep_leading', `worker="${leader}"`) + sample(now, 'realtime_sweep_leading', `worker="${other}"`) === 1;
  }, 'one worker to lead the sweeps again');
  assert.match(server.output(), new RegExp(`"code":"server\\.worker_replaced".*worker ${leader} exited \\(SIGKILL\\)`));
});

test('a worker killed with SIGKILL mid-stream: every SDK client resumes and ends with the log exactly once, in order', async () => {
  const received = new Map<string, number[]>();
  for (let index = 0; index < 4; index++) {
    const client = new RealtimeClient({ url: `ws://127.0.0.1:${server.port}`, reconnectDelayMs: () => 100, heartbeatIntervalMs: 1_000 });
    cleanups.push(() => client.disconnect());
    const offsets: number[] = [];
    received.set(`client ${index + 1}`, offsets);
    const channel = client.channel('worker-killed').on('tick', (_payload, message) => offsets.push(message.offset ?? -1));
    await new Promise<void>((resolve) =>
      channel.subscribe((status) => {
        if (status === 'SUBSCRIBED') resolve();
      }),
    );
  }
  let killed: number | undefined;
  await publishStream(db.pool, {
    channel: 'worker-killed',
    total: 2_000,
    batch: 5,
    workers: 2,
    pauseMs: 5,
    progress: (committed) => {
      if (committed < 600 || killed !== undefined) return;
      killed = workerPids().get(1);
      if (killed) process.kill(killed, 'SIGKILL');
    },
  });
  assert.ok(killed, 'a worker was killed during the stream');
  const log = await logOffsets(db.pool, 'worker-killed');
  assert.equal(log.length, 2_000);
  await waitFor(() => [...received.values()].every((offsets) => offsets.length >= log.length), 'every client to catch up', 30_000).catch(() => undefined);
  assertExactlyOnceInOrder(log, received);
  await waitFor(() => workerPids().get(1) !== killed, 'a worker in place of the one killed', 20_000);
});

test('SIGTERM drains every worker and the server exits 0', async () => {
  const code = await server.stop('SIGTERM');
  assert.equal(code, 0);
  const stopped = server.output().match(/"code":"server\.stopped"/g) ?? [];
  assert.equal(stopped.length, WORKERS + 1, 'each worker and the primary say they stopped');
});
