// The server's LISTEN connection terminated every few seconds during a stream: every subscriber still gets the whole log.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertExactlyOnceInOrder, logOffsets } from './checker.js';
import { publishStream } from './publisher.js';
import { OffsetSubscriber } from './subscriber.js';
import { useTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const setup = useTestServer();

/** Terminates the server's LISTEN backend; resolves with whether there was one to terminate. */
async function terminateListener(): Promise<boolean> {
  const pid = await setup.server.listener.backendPid().catch(() => undefined);
  if (pid === undefined) return false;
  const { rows } = await setup.db.pool.query<{ done: boolean }>('SELECT pg_terminate_backend($1) AS done', [pid]);
  return rows[0]?.done === true;
}

test('the LISTEN connection terminated every 1.5 s during a stream, and once more before the last messages: nothing is lost', async () => {
  const subscribers = new Map<string, OffsetSubscriber>();
  for (let index = 0; index < 5; index++) {
    const { subscriber } = await OffsetSubscriber.join(setup.server.port, 'flaky');
    subscribers.set(`subscriber ${index + 1}`, subscriber);
  }
  let terminations = 0;
  let streaming = true;
  const killer = (async () => {
    while (streaming) {
      await sleep(1_500);
      if (streaming && (await terminateListener())) terminations++;
    }
  })();
  // Slow enough for several terminations however fast the machine publishes.
  await publishStream(setup.db.pool, { channel: 'flaky', total: 4_000, batch: 5, workers: 2, pauseMs: 20 });
  streaming = false;
  await killer;
  assert.ok(terminations >= 3, `the listener was terminated ${terminations} times during the stream`);

  // The tail is published while the listener is down, so only reading the log after reconnecting delivers it.
  await waitFor(() => setup.server.listener.connected, 'the listener to be connected');
  assert.ok(await terminateListener());
  await publishStream(setup.db.pool, { channel: 'flaky', total: 20, batch: 1, workers: 1 });

  const log = await logOffsets(setup.db.pool, 'flaky');
  assert.equal(log.length, 4_020);
  await waitFor(() => [...subscribers.values()].every((subscriber) => subscriber.offsets.length >= log.length), 'every message', 30_000).catch(() => undefined);
  assertExactlyOnceInOrder(log, new Map([...subscribers].map(([name, subscriber]) => [name, subscriber.offsets])));
  for (const subscriber of subscribers.values()) subscriber.close();
});
