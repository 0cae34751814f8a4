// Retention: global and per channel, by cleanup and by the server's sweeper; a resume from before it gets the explicit answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { realtime } from '../helpers/cli.js';
import { logOffsets } from './checker.js';
import { OffsetSubscriber } from './subscriber.js';
import { startTestServer, useTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const setup = useTestServer();

/** Creates a channel with `metadata` and ten messages, then backdates the ones at `oldOffsets` by `hours`. */
async function channelWithOldMessages(slug: string, metadata: Record<string, unknown>, oldOffsets: number[], hours: number): Promise<void> {
  const pool = setup.db.pool;
  await pool.query('INSERT INTO realtime.channels (slug, name, metadata) VALUES ($1, $1, $2)', [slug, metadata]);
  await pool.query("SELECT realtime.broadcast($1, 'tick', jsonb_build_object('n', n), NULL) FROM generate_series(1, 10) AS n", [slug]);
  await pool.query(
    `UPDATE realtime.messages SET sent_at = sent_at - make_interval(hours => $3)
      WHERE channel_id = (SELECT id FROM realtime.channels WHERE slug = $1) AND channel_offset = ANY($2)`,
    [slug, oldOffsets, hours],
  );
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

test('cleanup keeps each channel for its own retention_hours (else the global 24), removes only a prefix of each log, and trims table changes', async () => {
  await channelWithOldMessages('short', { retention_hours: 1 }, range(1, 6), 2);
  await channelWithOldMessages('daily', {}, range(1, 4), 30);
  await channelWithOldMessages('kept', { retention_hours: 72 }, range(1, 10), 30);
  // Only offsets 2 and 5 are old: deleting just those would leave holes, so 1 to 5 go.
  await channelWithOldMessages('holes', { retention_hours: 1 }, [2, 5], 2);
  await channelWithOldMessages('odd-setting', { retention_hours: 'forever' }, range(1, 3), 30);

  await setup.db.pool.query('CREATE TABLE public.things (id serial PRIMARY KEY, label text)');
  const subscribed = await realtime(['subscribe', 'public.things', 'INSERT'], { databaseUrl: setup.db.url });
  assert.equal(subscribed.code, 0, subscribed.stderr);
  await setup.db.pool.query("INSERT INTO public.things (label) VALUES ('old'), ('old'), ('new')");
  // On the WAL path the server logs the changes a moment after their commit.
  await waitFor(async () => {
    await setup.db.pool.query('SELECT realtime.sequence_changes()');
    const { rows } = await setup.db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM realtime.changes WHERE table_name = 'things' AND position IS NOT NULL`);
    return rows[0]?.n === '3' || undefined;
  }, 'the three changes in the log');
  await setup.db.pool.query("UPDATE realtime.changes SET changed_at = changed_at - interval '30 hours' WHERE new_record ->> 'label' = 'old'");

  const result = await realtime(['cleanup'], { databaseUrl: setup.db.url, env: { REALTIME_RETENTION_HOURS: '' } });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^Deleted 18 messages older than 24 hours\.\nDeleted 2 table changes older than 24 hours\.\n/);
  assert.deepEqual(await logOffsets(setup.db.pool, 'short'), range(7, 10));
  assert.deepEqual(await logOffsets(setup.db.pool, 'daily'), range(5, 10));
  assert.deepEqual(await logOffsets(setup.db.pool, 'kept'), range(1, 10));
  assert.deepEqual(await logOffsets(setup.db.pool, 'holes'), range(6, 10));
  assert.deepEqual(await logOffsets(setup.db.pool, 'odd-setting'), range(4, 10));
  const { rows } = await setup.db.pool.query("SELECT new_record ->> 'label' AS label FROM realtime.changes WHERE position IS NOT NULL");
  assert.deepEqual(rows, [{ label: 'new' }]);
});

test('a resume from an offset older than retention is told it cannot recover, then gets what is retained; inside retention it is complete', async () => {
  const { subscriber, reply } = await OffsetSubscriber.join(setup.server.port, 'short', { resume: { offset: 2 } });
  assert.deepEqual(reply.response['resume'], { recovered: false, offset: 2, earliest_offset: 7, latest_offset: 10 });
  await waitFor(() => subscriber.offsets.length >= 4, 'the retained messages');
  assert.deepEqual(subscriber.systems, [
    {
      extension: 'broadcast',
      status: 'error',
      channel: 'short',
      message: 'ResumeUnavailable: messages after offset 2 are no longer retained; resuming from offset 7',
    },
  ]);
  assert.deepEqual(subscriber.offsets, range(7, 10));
  subscriber.close();

  const inside = await OffsetSubscriber.join(setup.server.port, 'short', { resume: { offset: 6 } });
  assert.deepEqual(inside.reply.response['resume'], { recovered: true, offset: 6, earliest_offset: 7, latest_offset: 10 });
  await waitFor(() => inside.subscriber.offsets.length >= 4, 'the messages after 6');
  assert.deepEqual([inside.subscriber.offsets, inside.subscriber.systems], [range(7, 10), []]);
  inside.subscriber.close();

  const rest = await fetch(`http://127.0.0.1:${setup.server.port}/api/channels/short/messages?after=2`);
  const body = (await rest.json()) as { recovered: boolean; earliest_offset: number; messages: Array<{ offset: number }> };
  assert.deepEqual([body.recovered, body.earliest_offset, body.messages.map((message) => message.offset)], [false, 7, range(7, 10)]);
});

test('the server sweeps by itself: REALTIME_RETENTION_HOURS and per-channel retention_hours apply without running cleanup', async () => {
  await channelWithOldMessages('swept', {}, range(1, 3), 2);
  await channelWithOldMessages('swept-own', { retention_hours: 0.5 }, range(1, 5), 1);
  // One process per database runs the sweeps: the file's server stops, so that this one, sweeping every 200 ms, leads them.
  await setup.server.close();
  const sweeper = await startTestServer(setup.db, { env: { REALTIME_RETENTION_HOURS: '1.5', REALTIME_RETENTION_INTERVAL_MS: '200' } });
  try {
    assert.equal(sweeper.config.retentionHours, 1.5);
    await waitFor(async () => (await logOffsets(setup.db.pool, 'swept'))[0] === 4 && (await logOffsets(setup.db.pool, 'swept-own'))[0] === 6, 'the sweeper');
    assert.deepEqual(await logOffsets(setup.db.pool, 'swept'), range(4, 10));
    assert.deepEqual(await logOffsets(setup.db.pool, 'swept-own'), range(6, 10));
    assert.deepEqual(await logOffsets(setup.db.pool, 'kept'), range(1, 10), 'a channel that keeps 72 hours is untouched');
  } finally {
    await sweeper.close();
  }
});

test('a retention that is not a number of hours is refused by name, and cleanup changes nothing', async () => {
  const before = await setup.db.pool.query('SELECT count(*)::int AS count FROM realtime.messages');
  const result = await realtime(['cleanup'], { databaseUrl: setup.db.url, env: { REALTIME_RETENTION_HOURS: 'a week' } });
  assert.equal(result.code, 1);
  assert.equal(result.stderr, 'error: REALTIME_RETENTION_HOURS "a week" is not valid; expected a number of hours of 0 or more, such as 24 or 72\n');
  const after = await setup.db.pool.query('SELECT count(*)::int AS count FROM realtime.messages');
  assert.deepEqual(after.rows, before.rows);
});
