// The change feed reads as soon as it is notified, including of a change committed while it was delivering the previous one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ChangeFeed, parseTableName, subscribe, type Change } from '@nself/db';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const table = parseTableName('public.wakes');
let db: TestDatabase;

before(async () => {
  db = await createTestDatabase({ migrated: true });
  await db.pool.query('CREATE TABLE public.wakes (id serial PRIMARY KEY, note text NOT NULL)');
  await subscribe(db.pool, { table });
});
after(async () => {
  await db.drop();
});

test('a notification that arrives while a batch is being delivered makes the feed read again at once, not at its next poll', async () => {
  const received: Change[] = [];
  let secondArrived: () => void = () => undefined;
  const second = new Promise<void>((resolve) => {
    secondArrived = resolve;
  });
  const feed = await ChangeFeed.start({
    pool: db.pool,
    connectionString: db.url,
    tables: [table],
    // Polling alone would find the second change only after a minute: only the NOTIFY can bring it sooner.
    pollIntervalMs: { min: 60_000, max: 60_000 },
    onChanges: async (changes) => {
      received.push(...changes);
      if (received.length === 1) {
        // Committed while this batch is still being delivered: its NOTIFY arrives during the feed's step.
        await db.pool.query(`INSERT INTO public.wakes (note) VALUES ('second')`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      } else {
        secondArrived();
      }
    },
  });
  try {
    await db.pool.query(`INSERT INTO public.wakes (note) VALUES ('first')`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve('timed out'), 10_000);
    });
    const outcome = await Promise.race([second.then(() => 'arrived'), timeout]);
    clearTimeout(timer);
    assert.equal(outcome, 'arrived', 'the second change arrives long before the next poll');
    assert.deepEqual(
      received.map((change) => (change.new as { note: string }).note),
      ['first', 'second'],
    );
  } finally {
    await feed.stop();
  }
});
