// Batching of concurrent requests (the channel lookups of joins, shared reads of history, the group commit of broadcasts), without a database.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batches, KeyedBatches, sharedLoads } from '../src/batches.js';

/** A promise with its resolve, to hold a run open until the test lets it end. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

test('requests of one turn share a run, and those made while it runs are answered together by the next run', async () => {
  const runs: string[][] = [];
  const hold = gate();
  const lookups = new Batches<string, string>({
    start: 'next-turn',
    run: async (batch) => {
      runs.push(batch.map(({ request }) => request));
      if (runs.length === 1) await hold.promise;
      for (const waiting of batch) waiting.resolve(`${waiting.request}@${runs.length}`);
    },
  });
  const first = [lookups.request('a'), lookups.request('b')];
  await new Promise((resolve) => setImmediate(resolve));
  const second = [lookups.request('c'), lookups.request('a')];
  hold.open();
  assert.deepEqual(await Promise.all([...first, ...second]), ['a@1', 'b@1', 'c@2', 'a@2']);
  assert.deepEqual(runs, [
    ['a', 'b'],
    ['c', 'a'],
  ]);
});

test('a lone request starts its run at once with `now`, and a run takes at most maxBatch requests', async () => {
  const runs: number[][] = [];
  const writes = new Batches<number, number>({
    start: 'now',
    maxBatch: 2,
    run: async (batch) => {
      runs.push(batch.map(({ request }) => request));
      await Promise.resolve();
      for (const waiting of batch) waiting.resolve(waiting.request * 10);
    },
  });
  const answers = [writes.request(1), writes.request(2), writes.request(3), writes.request(4), writes.request(5)];
  assert.deepEqual(runs, [[1]], 'the first request runs before the others are made');
  assert.deepEqual(await Promise.all(answers), [10, 20, 30, 40, 50]);
  assert.deepEqual(runs, [[1], [2, 3], [4, 5]]);
});

test('a run that throws rejects the requests it left unanswered, and the next run goes on', async () => {
  let calls = 0;
  const batches = new Batches<string, string>({
    start: 'next-turn',
    maxBatch: 2,
    run: async (batch) => {
      calls += 1;
      if (calls === 1) {
        batch[0]?.resolve('answered before the failure');
        throw new Error('the database is gone');
      }
      for (const waiting of batch) waiting.resolve('later');
    },
  });
  const [a, b, c] = [batches.request('a'), batches.request('b'), batches.request('c')];
  assert.equal(await a, 'answered before the failure');
  await assert.rejects(b, /the database is gone/);
  assert.equal(await c, 'later');
});

test('keyed batches run each key on its own and forget a key once its runs are done', async () => {
  const runs: string[] = [];
  const keyed = new KeyedBatches<number, string>({
    start: 'next-turn',
    run: async (key, batch) => {
      runs.push(`${key}:${batch.map(({ request }) => request).join(',')}`);
      for (const waiting of batch) waiting.resolve(key);
    },
  });
  assert.deepEqual(await Promise.all([keyed.request('x', 1), keyed.request('y', 2), keyed.request('x', 3)]), ['x', 'y', 'x']);
  assert.deepEqual(runs, ['x:1,3', 'y:2']);
  assert.equal(await keyed.request('x', 4), 'x');
  assert.deepEqual(runs, ['x:1,3', 'y:2', 'x:4']);
});

test('a shared load is never shared with a caller who asked after it started: that caller gets the next load', async () => {
  let stored = 1;
  let loads = 0;
  const hold = gate();
  const reads = sharedLoads<number>();
  const load = async () => {
    loads += 1;
    const seen = stored;
    if (loads === 1) await hold.promise;
    return seen;
  };
  const early = [reads.request('page', load), reads.request('page', load)];
  await new Promise((resolve) => setImmediate(resolve));
  stored = 2;
  const late = reads.request('page', load);
  hold.open();
  assert.deepEqual(await Promise.all([...early, late]), [1, 1, 2]);
  assert.equal(loads, 2);
});
