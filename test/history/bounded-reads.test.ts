// Reading a 20 MB log many times at once: resumes and REST pages stay within a bounded memory, and every reader gets every message once, in order.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { assertExactlyOnceInOrder, logOffsets } from './checker.js';
import { OffsetSubscriber } from './subscriber.js';
import { freePort, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

/** 100 messages of 200 KB: a 20 MB log. */
const MESSAGES = 100;
const PAYLOAD_CHARS = 200_000;
const READERS = 10;
/** The most the server's resident memory may grow over its idle size while the readers read (20 MB × 10 readers pass through it). */
const RSS_GROWTH_BOUND = 100 * 1024 * 1024;

let db: TestDatabase;
let server: ServerProcess;

before(async () => {
  db = await createTestDatabase({ migrated: true });
  await db.pool.query("INSERT INTO realtime.channels (slug, name) VALUES ('archive', 'archive')");
  await db.pool.query("SELECT realtime.broadcast('archive', 'page', jsonb_build_object('n', n, 'blob', repeat(md5(n::text), $1 / 32)), NULL) FROM generate_series(1, $2) AS n", [
    PAYLOAD_CHARS,
    MESSAGES,
  ]);
});

after(async () => {
  await db?.drop();
});

/** Each test measures a server process of its own, from its idle size. */
beforeEach(async () => {
  // A small heap, as a container would give it: reads that hold a whole log for each reader cannot fit.
  server = await startServerProcess(db.url, await freePort(), { NODE_OPTIONS: '--max-old-space-size=256' });
});

afterEach(async () => {
  await server?.stop();
});

/** The server's resident memory as its /metrics reports it. */
async function residentBytes(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  const line = text.split('\n').find((row) => /^realtime_process_(process_)?resident_memory_bytes /.test(row));
  return Number(line?.split(' ')[1]);
}

/** Runs `work` while sampling the server's resident memory; resolves with its result and the peak growth over the start. */
async function measured<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const start = await residentBytes();
  let peak = start;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await residentBytes());
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  try {
    return { result: await work(), growth: peak - start };
  } finally {
    sampling = false;
    await sampler;
  }
}

test(`${READERS} resumes of a 20 MB log at once, one of them reading slowly, each get every message once and in order in bounded memory`, async (t) => {
  const log = await logOffsets(db.pool, 'archive');
  assert.equal(log.length, MESSAGES);
  const { result: subscribers, growth } = await measured(async () => {
    const joined = await Promise.all(Array.from({ length: READERS }, () => OffsetSubscriber.join(server.port, 'archive', { resume: { offset: 0 } })));
    for (const { reply } of joined) assert.equal(reply.status, 'ok');
    const slow = joined[0]!.subscriber;
    slow.pause();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    slow.resume();
    const all = joined.map(({ subscriber }) => subscriber);
    await waitFor(() => all.every((subscriber) => subscriber.offsets.length >= MESSAGES || subscriber.closeCode !== undefined), 'every resume to finish', 120_000);
    return all;
  });
  for (const subscriber of subscribers) assert.equal(subscriber.closeCode, undefined, 'no reader was closed as a slow consumer');
  assertExactlyOnceInOrder(log, new Map(subscribers.map((subscriber, index) => [`resume ${index}`, subscriber.offsets])));
  for (const subscriber of subscribers) subscriber.close();
  t.diagnostic(`the server's resident memory grew by ${Math.round(growth / 1048576)} MB at most`);
  assert.ok(growth < RSS_GROWTH_BOUND, `the server grew by ${Math.round(growth / 1048576)} MB (bound ${RSS_GROWTH_BOUND / 1048576} MB)`);
});

interface HistoryBody {
  messages: Array<{ offset: number; payload: { n: number; blob: string } }>;
  next_after: number | null;
}

test(`${READERS} REST readers asking for limit=1000 at once get pages of about 1 MB, and following next_after, every message once and in order in bounded memory`, async (t) => {
  const log = await logOffsets(db.pool, 'archive');
  const { result: readers, growth } = await measured(() =>
    Promise.all(
      Array.from({ length: READERS }, async () => {
        const offsets: number[] = [];
        const pageBytes: number[] = [];
        let after = 0;
        for (;;) {
          const response = await fetch(`http://127.0.0.1:${server.port}/api/channels/archive/messages?after=${after}&limit=1000`);
          assert.equal(response.status, 200);
          const text = await response.text();
          pageBytes.push(Buffer.byteLength(text));
          const body = JSON.parse(text) as HistoryBody;
          for (const message of body.messages) {
            assert.equal(message.payload.n, message.offset, 'the payload of its own message');
            offsets.push(message.offset);
          }
          if (body.next_after === null) break;
          after = body.next_after;
        }
        return { offsets, pageBytes };
      }),
    ),
  );
  assertExactlyOnceInOrder(log, new Map(readers.map((reader, index) => [`reader ${index}`, reader.offsets])));
  for (const reader of readers) {
    assert.ok(reader.pageBytes.length > 1, 'limit=1000 of 200 KB messages is served in several pages');
    assert.ok(Math.max(...reader.pageBytes) < 1_500_000, `pages of at most about 1 MB (largest ${Math.max(...reader.pageBytes)} bytes)`);
  }
  t.diagnostic(`the server's resident memory grew by ${Math.round(growth / 1048576)} MB at most`);
  assert.ok(growth < RSS_GROWTH_BOUND, `the server grew by ${Math.round(growth / 1048576)} MB (bound ${RSS_GROWTH_BOUND / 1048576} MB)`);
});
