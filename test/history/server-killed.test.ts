// The server process killed with SIGKILL mid-stream and started again: clients of the SDK reconnect and resume with no gap.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RealtimeClient } from '@nself/client';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { assertExactlyOnceInOrder, logOffsets } from './checker.js';
import { publishStream } from './publisher.js';
import { freePort, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const CLIENTS = 5;
let db: TestDatabase;
let server: ServerProcess | undefined;
const clients: RealtimeClient[] = [];

before(async () => {
  db = await createTestDatabase({ migrated: true });
});

after(async () => {
  await Promise.all(clients.map((client) => client.disconnect()));
  await server?.stop();
  await db?.drop();
});

test('SIGKILL mid-stream, then a new server process: every SDK client resumes and ends with the log exactly once, in order', async () => {
  const port = await freePort();
  server = await startServerProcess(db.url, port);
  const received = new Map<string, number[]>();
  for (let index = 0; index < CLIENTS; index++) {
    const client = new RealtimeClient({ url: `ws://127.0.0.1:${port}`, reconnectDelayMs: () => 100, heartbeatIntervalMs: 1_000 });
    clients.push(client);
    const offsets: number[] = [];
    received.set(`client ${index + 1}`, offsets);
    const channel = client.channel('killed').on('tick', (_payload, message) => offsets.push(message.offset ?? -1));
    await new Promise<void>((resolve) =>
      channel.subscribe((status) => {
        if (status === 'SUBSCRIBED') resolve();
      }),
    );
  }

  let killed: Promise<void> | undefined;
  const publishing = publishStream(db.pool, {
    channel: 'killed',
    total: 3_000,
    batch: 5,
    workers: 2,
    pauseMs: 5,
    progress: (committed) => {
      killed ??=
        committed >= 900
          ? (async () => {
              const victim = server;
              assert.equal(await victim?.stop('SIGKILL'), null, 'the server died of the signal, without a clean exit');
              await sleep(500);
              server = await startServerProcess(db.url, port);
            })()
          : undefined;
    },
  });
  await publishing;
  await killed;
  assert.ok(killed, 'the server was killed during the stream');

  const log = await logOffsets(db.pool, 'killed');
  assert.equal(log.length, 3_000);
  await waitFor(() => [...received.values()].every((offsets) => offsets.length >= log.length), 'every client to catch up', 30_000).catch(() => undefined);
  assertExactlyOnceInOrder(log, received);
  assert.ok([...received.values()].every((offsets) => offsets.length === log.length));
});
