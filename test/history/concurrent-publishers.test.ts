// 8 publishers whose transactions start, wait and commit in random order: per channel, offsets arrive contiguously, none twice.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { assertExactlyOnceInOrder, logOffsets } from './checker.js';
import { OffsetSubscriber } from './subscriber.js';
import { useTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const setup = useTestServer();
const CHANNELS = ['orders-a', 'orders-b', 'orders-c'];
const PUBLISHERS = 8;
const TRANSACTIONS = 40;

interface Published {
  readonly channel: string;
  readonly began: number;
  readonly offset: number;
}

const randomMs = (max: number) => Math.floor(Math.random() * max);

/** One publisher: transactions that wait a random time before and after appending, then commit. */
async function publisher(url: string, out: Published[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (let index = 0; index < TRANSACTIONS; index++) {
      const channel = CHANNELS[randomMs(CHANNELS.length)] ?? 'orders-a';
      await client.query('BEGIN');
      const began = performance.now();
      await client.query('SELECT pg_sleep($1)', [randomMs(20) / 1000]);
      const { rows } = await client.query<{ offset: string }>("SELECT realtime.broadcast($1, 'order', '{}'::jsonb, NULL) AS offset", [channel]);
      await client.query('SELECT pg_sleep($1)', [randomMs(30) / 1000]);
      await client.query('COMMIT');
      out.push({ channel, began, offset: Number(rows[0]?.offset) });
    }
  } finally {
    await client.end();
  }
}

test('8 publishers committing in random order: each channel is delivered 1, 2, 3… with no gap and nothing twice', async () => {
  for (const channel of CHANNELS) await setup.db.pool.query('INSERT INTO realtime.channels (slug, name) VALUES ($1, $1)', [channel]);
  const subscribers = new Map<string, Map<string, OffsetSubscriber>>();
  for (const channel of CHANNELS) {
    const perChannel = new Map<string, OffsetSubscriber>();
    for (let index = 0; index < 2; index++) perChannel.set(`${channel} subscriber ${index + 1}`, (await OffsetSubscriber.join(setup.server.port, channel)).subscriber);
    subscribers.set(channel, perChannel);
  }

  const published: Published[] = [];
  await Promise.all(Array.from({ length: PUBLISHERS }, () => publisher(setup.db.url, published)));
  assert.equal(published.length, PUBLISHERS * TRANSACTIONS);

  // The transactions did not take offsets in the order they began: the log order is the commit order.
  const outOfBeginOrder = CHANNELS.some((channel) => {
    const byBegin = published
      .filter((entry) => entry.channel === channel)
      .sort((a, b) => a.began - b.began)
      .map((entry) => entry.offset);
    return byBegin.some((offset, index) => index > 0 && offset < (byBegin[index - 1] ?? 0));
  });
  assert.ok(outOfBeginOrder, 'some transaction that began later committed first');

  for (const channel of CHANNELS) {
    const log = await logOffsets(setup.db.pool, channel);
    assert.deepEqual(
      log,
      Array.from({ length: log.length }, (_, index) => index + 1),
      `${channel}: offsets 1…${log.length} with no hole`,
    );
    assert.equal(log.length, published.filter((entry) => entry.channel === channel).length);
    const perChannel = subscribers.get(channel) ?? new Map<string, OffsetSubscriber>();
    await waitFor(() => [...perChannel.values()].every((subscriber) => subscriber.offsets.length >= log.length), `${channel} delivered`, 20_000).catch(() => undefined);
    assertExactlyOnceInOrder(log, new Map([...perChannel].map(([name, subscriber]) => [name, subscriber.offsets])));
    for (const subscriber of perChannel.values()) subscriber.close();
  }
});
