// PostgreSQL restarted (pg_ctl restart -m fast) during a 10,000-message stream to 50 subscribers: each gets the log exactly once, in order.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { ensureEmbeddedPostgres, migrate, restartEmbeddedPostgres, stopEmbeddedPostgres } from '@nself/db';
import { assertExactlyOnceInOrder, logOffsets } from './checker.js';
import { publishStream } from './publisher.js';
import { OffsetSubscriber } from './subscriber.js';
import { freePort, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const SUBSCRIBERS = 50;
const MESSAGES = 10_000;

let stateDir: string;
let pool: pg.Pool;
let server: ServerProcess | undefined;

before(async () => {
  // A PostgreSQL of this test's own, so restarting it disturbs no other test (and works whatever DATABASE_URL is).
  stateDir = await mkdtemp(path.join(tmpdir(), 'nself-history-pg-'));
  await chmod(stateDir, 0o755);
  const instance = await ensureEmbeddedPostgres(stateDir);
  pool = new pg.Pool({ connectionString: instance.url, max: 4 });
  pool.on('error', () => undefined);
  await migrate(pool);
  server = await startServerProcess(instance.url, await freePort());
});

after(async () => {
  await server?.stop();
  await pool?.end();
  await stopEmbeddedPostgres(stateDir);
  await rm(stateDir, { recursive: true, force: true });
});

test('PostgreSQL restarted mid-stream: 50 subscribers each end with every committed message exactly once, in order', async () => {
  const port = server?.port ?? 0;
  const subscribers = new Map<string, OffsetSubscriber>();
  for (let index = 0; index < SUBSCRIBERS; index++) {
    const { subscriber, reply } = await OffsetSubscriber.join(port, 'stream');
    assert.equal(reply.status, 'ok');
    subscriber.keepAlive();
    subscribers.set(`subscriber ${index + 1}`, subscriber);
  }

  let restarted: Promise<void> | undefined;
  const published = await publishStream(pool, {
    channel: 'stream',
    total: MESSAGES,
    batch: 10,
    workers: 4,
    pauseMs: 2,
    progress: (committed) => {
      if (committed >= MESSAGES * 0.3) restarted ??= restartEmbeddedPostgres(stateDir);
    },
  });
  await restarted;
  assert.equal(published, MESSAGES);

  const log = await logOffsets(pool, 'stream');
  assert.ok(log.length >= MESSAGES, `the log holds ${log.length} messages`);
  await waitFor(() => [...subscribers.values()].every((subscriber) => subscriber.offsets.length >= log.length), `every subscriber to receive ${log.length} messages`, 90_000).catch(
    () => undefined,
  );
  assertExactlyOnceInOrder(log, new Map([...subscribers].map(([name, subscriber]) => [name, subscriber.offsets])));
  assert.match(server?.output() ?? '', /database listener reconnected/, 'the server saw its LISTEN connection drop and come back');
  for (const subscriber of subscribers.values()) subscriber.close();
});
