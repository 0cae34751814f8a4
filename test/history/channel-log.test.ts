// Reads of a channel's log through readLogPage and readBoundedLogPage: from either end, after an offset, since a time, bounded in rows and bytes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createChannel, readBoundedLogPage, readLogPage, stringifyExact, type LogPage } from '@nself/db';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
let channelId: string;
/** Makes each of the first nine payloads over 100 bytes, so byte budgets fall between messages. */
const PAD = 'x'.repeat(100);

before(async () => {
  db = await createTestDatabase({ migrated: true });
  channelId = (await createChannel(db.pool, { name: 'log' })).id;
  // Offsets 1 to 10, the 10th's payload holding a number a JavaScript number would round.
  await db.pool.query("SELECT realtime.append_message($1, 'tick', jsonb_build_object('n', n, 'pad', $2::text), NULL, NULL) FROM generate_series(1, 9) AS n", [channelId, PAD]);
  await db.pool.query(`SELECT realtime.append_message($1, 'tick', '{"n": 10, "big": 12345678901234567890}'::jsonb, NULL, NULL)`, [channelId]);
});

after(() => db.drop());

function offsets(page: LogPage): number[] {
  return page.messages.map((message) => message.offset);
}

test('a page from the oldest end keeps the first messages after an offset, and says when it stopped at its limit', async () => {
  const page = await readLogPage(db.pool, channelId, { afterOffset: 2, limit: 3 });
  assert.deepEqual([offsets(page), page.full], [[3, 4, 5], true]);
  const rest = await readLogPage(db.pool, channelId, { afterOffset: 7 });
  assert.deepEqual([offsets(rest), rest.full], [[8, 9, 10], false]);
});

test('a page from the newest end keeps the last messages, returned oldest first, counting its limit and bytes from that end', async () => {
  const newest = await readLogPage(db.pool, channelId, { from: 'newest', limit: 3 });
  assert.deepEqual([offsets(newest), newest.full], [[8, 9, 10], true]);
  // The budget is reached by the 2nd and 3rd newest payloads: the message that reaches it is the page's last.
  const sizes = await db.pool.query<{ bytes: number }>('SELECT payload_bytes AS bytes FROM realtime.messages WHERE channel_id = $1 ORDER BY channel_offset DESC LIMIT 2', [
    channelId,
  ]);
  const budget = (sizes.rows[0]?.bytes ?? 0) + (sizes.rows[1]?.bytes ?? 0) + 1;
  const bounded = await readLogPage(db.pool, channelId, { from: 'newest', maxBytes: budget });
  assert.deepEqual([offsets(bounded), bounded.full], [[8, 9, 10], true]);
  const afterNine = await readLogPage(db.pool, channelId, { from: 'newest', afterOffset: 8, limit: 5 });
  assert.deepEqual([offsets(afterNine), afterNine.full], [[9, 10], false]);
  assert.equal(stringifyExact(newest.messages.at(-1)?.payload), '{"n":10,"big":12345678901234567890}');
});

test('since keeps messages sent at or after a time, except those after sinceOnlyUpTo, which it keeps whenever they were sent', async () => {
  await db.pool.query("UPDATE realtime.messages SET sent_at = now() - interval '1 hour' WHERE channel_id = $1 AND channel_offset <= 8", [channelId]);
  const since = new Date(Date.now() - 60_000);
  assert.deepEqual(offsets(await readLogPage(db.pool, channelId, { since })), [9, 10]);
  assert.deepEqual(offsets(await readLogPage(db.pool, channelId, { since, sinceOnlyUpTo: 6 })), [7, 8, 9, 10]);
  assert.deepEqual(offsets(await readLogPage(db.pool, channelId, { from: 'newest', since, limit: 1 })), [10]);
});

test("a bounded page carries the log's bounds of the same snapshot, also when it holds no message", async () => {
  const page = await readBoundedLogPage(db.pool, channelId, { afterOffset: 8, limit: 1 });
  assert.deepEqual([offsets(page), page.full, page.earliest, page.latest], [[9], true, 1, 10]);
  const empty = await readBoundedLogPage(db.pool, channelId, { afterOffset: 10 });
  assert.deepEqual([offsets(empty), empty.full, empty.earliest, empty.latest], [[], false, 1, 10]);
  const other = (await createChannel(db.pool, { name: 'empty' })).id;
  const none = await readBoundedLogPage(db.pool, other, { limit: 5 });
  assert.deepEqual([offsets(none), none.full, none.earliest, none.latest], [[], false, 1, 0]);
});
