// The seam between catching up from a log and going live, over a memory of a channel's log: every entry once, in order, whatever arrives meanwhile.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { catchUpThenGoLive, type LogTail } from '../src/log-tail.js';
import { MemoryBroadcastLog } from './memory-broadcast-log.js';

const CHANNEL = 'room';

/**
 * A reader of the channel that joins when the live stream stands at `joinedAt` and reads the log from
 * `from`, as a resuming join does; `beforeEachRead` runs while each page is being read, with the
 * snapshot already taken (messages stored then arrive by the live stream only).
 */
function reader(log: MemoryBroadcastLog, from: number, joinedAt: number, beforeEachRead: () => Promise<void> | void) {
  const received: number[] = [];
  let cursor = from;
  let live = false;
  let liveSeen = joinedAt;
  const tail: LogTail = {
    get cursor() {
      return cursor;
    },
    liveThrough: () => liveSeen,
    readPage: async () => {
      log.holdReads();
      const read = log.readPage(CHANNEL, { afterOffset: cursor, limit: 4 });
      await beforeEachRead();
      log.releaseReads();
      const page = await read;
      if (page.messages.length === 0) return 'ended';
      for (const message of page.messages) {
        received.push(message.offset);
        cursor = message.offset;
      }
      return 'read';
    },
    goLive: () => {
      live = true;
    },
  };
  /** The live stream hands the reader a message just stored. */
  const deliverLive = (offset: number) => {
    if (!live) {
      liveSeen = Math.max(liveSeen, offset);
      return;
    }
    if (offset <= cursor) return;
    received.push(offset);
    cursor = offset;
  };
  return { tail, received, deliverLive, isLive: () => live };
}

function storeMany(log: MemoryBroadcastLog, count: number): number {
  let last = 0;
  for (let index = 0; index < count; index += 1) last = log.appendElsewhere(CHANNEL).offset;
  return last;
}

test('a reader that catches up while messages keep arriving receives each one once, in order, and ends live', async () => {
  const log = new MemoryBroadcastLog();
  let newest = storeMany(log, 25);
  const storeLive = () => {
    newest = log.appendElsewhere(CHANNEL).offset;
    view.deliverLive(newest);
  };
  // Two messages are stored while each of the first eight pages is read: the page's snapshot does not hold them.
  let reads = 0;
  const view = reader(log, 3, newest, () => {
    reads += 1;
    if (reads > 8) return;
    storeLive();
    storeLive();
  });
  assert.equal(await catchUpThenGoLive(view.tail), 'live');
  for (let index = 0; index < 5; index += 1) storeLive();
  assert.equal(newest, 25 + 16 + 5, 'messages kept arriving during the catch-up');
  assert.deepEqual(
    view.received,
    Array.from({ length: newest - 3 }, (_, index) => index + 4),
  );
});

test('a reader already at the live position goes live without reading the log', async () => {
  const log = new MemoryBroadcastLog();
  const joinedAt = storeMany(log, 10);
  let reads = 0;
  const view = reader(log, joinedAt, joinedAt, () => {
    reads += 1;
  });
  assert.equal(await catchUpThenGoLive(view.tail), 'live');
  assert.equal(reads, 0);
  view.deliverLive(log.appendElsewhere(CHANNEL).offset);
  assert.deepEqual(view.received, [11]);
});

test('a log that ends before the live position (messages deleted) hands over where the reader stands', async () => {
  const log = new MemoryBroadcastLog();
  storeMany(log, 6);
  const view = reader(log, 0, 9, () => undefined);
  assert.equal(await catchUpThenGoLive(view.tail), 'live');
  assert.deepEqual(view.received, [1, 2, 3, 4, 5, 6]);
  assert.ok(view.isLive());
});

test('a reader that goes away while catching up never goes live', async () => {
  const log = new MemoryBroadcastLog();
  const joinedAt = storeMany(log, 12);
  const view = reader(log, 0, joinedAt, () => undefined);
  const tail: LogTail = { ...view.tail, cursor: 0, readPage: async () => 'stopped' };
  assert.equal(await catchUpThenGoLive(tail), 'stopped');
  assert.equal(view.isLive(), false);
});
