// Reading a long history: REST pages over 10,000 messages, a resume that replays them all, Supabase's capped replay option, the CLI.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { realtime } from '../helpers/cli.js';
import { assertExactlyOnceInOrder, logOffsets } from './checker.js';
import { OffsetSubscriber } from './subscriber.js';
import { token } from '../helpers/tokens.js';
import { useTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const TOTAL = 10_000;
const setup = useTestServer({}, async (db) => {
  await db.pool.query("INSERT INTO realtime.channels (slug, name) VALUES ('archive', 'archive')");
  await broadcastOn(db.pool, 'archive', 1, TOTAL);
});

interface HistoryBody {
  channel: string;
  messages: Array<{ id: string; offset: number; event: string; payload: { n: number }; sender: string | null; sent_at: string }>;
  next_after: number | null;
  earliest_offset: number;
  latest_offset: number;
  recovered?: boolean;
  error?: string;
}

async function history(channel: string, query: string, headers: Record<string, string> = {}): Promise<{ status: number; body: HistoryBody }> {
  const response = await fetch(`${setup.server.url.replace('localhost', '127.0.0.1')}/api/channels/${encodeURIComponent(channel)}/messages?${query}`, { headers });
  return { status: response.status, body: (await response.json()) as HistoryBody };
}

/** Broadcasts messages numbered `from` to `to` (payload `{n}`) on a channel from SQL. */
async function broadcastOn(pool: pg.Pool, channel: string, from: number, to: number): Promise<void> {
  await pool.query("SELECT realtime.broadcast($1, 'tick', jsonb_build_object('n', n), NULL) FROM generate_series($2::int, $3::int) AS n", [channel, from, to]);
}

function broadcast(channel: string, from: number, to: number): Promise<void> {
  return broadcastOn(setup.db.pool, channel, from, to);
}

test('REST reads 10,000 messages in 10 pages of 1,000, each message once and in order, and says where the log ends', async () => {
  const read: number[] = [];
  let after: number | null = 0;
  let pages = 0;
  while (after !== null) {
    const { status, body } = await history('archive', `after=${after}&limit=1000`);
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual([body.earliest_offset, body.latest_offset, body.recovered], [1, TOTAL, true]);
    read.push(...body.messages.map((message) => message.offset));
    assert.ok(body.messages.every((message) => message.payload.n === message.offset && message.event === 'tick'));
    after = body.next_after;
    pages++;
  }
  assert.equal(pages, 10);
  assertExactlyOnceInOrder(await logOffsets(setup.db.pool, 'archive'), new Map([['REST pages', read]]));

  const prefixed = await fetch(`http://127.0.0.1:${setup.server.port}/realtime/v1/api/channels/archive/messages?after=9998`);
  assert.deepEqual(
    ((await prefixed.json()) as HistoryBody).messages.map((message) => message.offset),
    [9999, 10_000],
  );
  const since = await history('archive', `since=${Date.now() + 60_000}`);
  assert.deepEqual([since.status, since.body.messages, since.body.next_after], [200, [], null]);
});

test('a join that resumes after offset 0 gets all 10,000 messages replayed in order, then live ones, with no duplicate at the seam', async () => {
  const { subscriber, reply } = await OffsetSubscriber.join(setup.server.port, 'archive', { resume: { offset: 0 } });
  assert.equal(reply.status, 'ok');
  assert.deepEqual(reply.response['resume'], { recovered: true, offset: 0, earliest_offset: 1, latest_offset: TOTAL });
  await broadcast('archive', TOTAL + 1, TOTAL + 5);
  const log = await logOffsets(setup.db.pool, 'archive');
  await waitFor(() => subscriber.offsets.length >= log.length, 'every message', 30_000).catch(() => undefined);
  assertExactlyOnceInOrder(log, new Map([['resuming subscriber', subscriber.offsets]]));
  assert.equal(subscriber.replayed.length >= TOTAL, true, `${subscriber.replayed.length} messages came replayed`);
  assert.deepEqual(subscriber.replayed.slice(0, TOTAL), log.slice(0, TOTAL));
  subscriber.close();
});

test('joins resuming from the same offset at once, while messages keep coming, each get every later message once and in order', async () => {
  await setup.db.pool.query("INSERT INTO realtime.channels (slug, name) VALUES ('shared-resume', 'shared-resume')");
  await broadcast('shared-resume', 1, 50);
  const live = (async () => {
    for (let n = 51; n <= 80; n += 5) await broadcast('shared-resume', n, n + 4);
  })();
  const joined = await Promise.all(
    Array.from({ length: 12 }, (_, index) => OffsetSubscriber.join(setup.server.port, 'shared-resume', { resume: { offset: index % 2 === 0 ? 20 : 35 } })),
  );
  await live;
  const log = await logOffsets(setup.db.pool, 'shared-resume');
  await waitFor(() => joined.every(({ subscriber }) => subscriber.offsets.at(-1) === log.at(-1)), 'every subscriber reaching the last message', 10_000).catch(() => undefined);
  assertExactlyOnceInOrder(
    log.filter((offset) => offset > 20),
    new Map(joined.filter((_, index) => index % 2 === 0).map(({ subscriber }, index) => [`after 20 #${index}`, subscriber.offsets])),
  );
  assertExactlyOnceInOrder(
    log.filter((offset) => offset > 35),
    new Map(joined.filter((_, index) => index % 2 === 1).map(({ subscriber }, index) => [`after 35 #${index}`, subscriber.offsets])),
  );
  for (const { subscriber, reply } of joined) {
    assert.equal((reply.response['resume'] as { recovered: boolean }).recovered, true);
    subscriber.close();
  }
});

test('config.broadcast.replay on public, presence and private channels: the newest 25 (the cap), oldest first, then paging back by offset', async () => {
  await setup.db.pool.query(`INSERT INTO realtime.channels (slug, name, type) VALUES
    ('replay-public', 'replay-public', 'public'), ('replay-presence', 'replay-presence', 'presence'), ('replay-private', 'replay-private', 'private')`);
  await setup.db.pool.query("INSERT INTO realtime.channel_members (channel_id, user_id) SELECT id, 'user-1' FROM realtime.channels WHERE slug = 'replay-private'");
  const member = await token('user-1');
  for (const channel of ['replay-public', 'replay-presence', 'replay-private']) {
    await broadcast(channel, 1, 40);
    const { subscriber, reply } = await OffsetSubscriber.join(
      setup.server.port,
      channel,
      { replay: { since: 0, limit: 100 } },
      channel === 'replay-private' ? { private: true, token: member } : {},
    );
    assert.equal(reply.status, 'ok', `${channel}: ${JSON.stringify(reply.response)}`);
    assert.deepEqual(reply.response['replay'], { count: 25, first_offset: 16, last_offset: 40, truncated: true }, channel);
    assert.deepEqual(reply.response['broadcast'], { latest_offset: 40 }, channel);
    await waitFor(() => subscriber.offsets.length >= 25, `${channel}: the replayed messages`);
    await broadcast(channel, 41, 42);
    await waitFor(() => subscriber.offsets.length >= 27, `${channel}: the live messages`);
    assert.deepEqual(
      subscriber.offsets,
      Array.from({ length: 27 }, (_, index) => index + 16),
      channel,
    );
    assert.deepEqual(
      subscriber.replayed,
      Array.from({ length: 25 }, (_, index) => index + 16),
      channel,
    );
    subscriber.close();

    // Beyond the cap: the older messages page in by offset.
    const older = await history(channel, 'after=0&limit=15', channel === 'replay-private' ? { authorization: `Bearer ${member}` } : {});
    assert.deepEqual(
      older.body.messages.map((message) => message.offset),
      Array.from({ length: 15 }, (_, index) => index + 1),
      channel,
    );
  }
  const small = await OffsetSubscriber.join(setup.server.port, 'replay-public', { replay: { since: 0, limit: 3 } });
  assert.deepEqual(small.reply.response['replay'], { count: 3, first_offset: 40, last_offset: 42, truncated: true });
  small.subscriber.close();
});

test("replay params that are not whole numbers are refused with Supabase's reason, and the join creates nothing", async () => {
  for (const replay of [{ since: 'yesterday' }, { since: 0, limit: 2.5 }, 'all']) {
    const { subscriber, reply } = await OffsetSubscriber.join(setup.server.port, 'never-created', { replay });
    assert.equal(reply.status, 'error');
    assert.match(String(reply.response['reason']), /^UnableToReplayMessages: Replay params are not valid: (since|limit|replay) must be/);
    subscriber.close();
  }
  const { rows } = await setup.db.pool.query("SELECT 1 FROM realtime.channels WHERE slug = 'never-created'");
  assert.equal(rows.length, 0);
});

test('REST history refuses bad parameters, unknown channels and readers who are not members, naming the problem', async () => {
  assert.deepEqual(await history('archive', 'after=-1'), { status: 422, body: { error: 'after must be an offset: a whole number of 0 or more, got "-1"' } });
  assert.deepEqual(await history('archive', 'limit=0'), { status: 422, body: { error: 'limit must be a whole number from 1 to 1000, got "0"' } });
  assert.deepEqual(await history('archive', 'limit=1001'), { status: 422, body: { error: 'limit must be a whole number from 1 to 1000, got "1001"' } });
  const since = await history('archive', 'since=yesterday');
  assert.equal(since.status, 422);
  assert.match(since.body.error ?? '', /^since: invalid timestamp "yesterday"; expected unix seconds .* unix milliseconds .* ISO 8601/);
  assert.deepEqual(await history('nowhere', ''), { status: 404, body: { error: 'no channel "nowhere"; give its name, slug or id' } });
  const outsider = await history('replay-private', '', { authorization: `Bearer ${await token('user-2')}` });
  assert.deepEqual(outsider, { status: 403, body: { error: 'Unauthorized: You do not have permissions to read from this Channel topic: replay-private' } });
});

test('nself realtime replay takes unix milliseconds, --after and --limit, ordered by offset', async () => {
  const {
    rows: [first],
  } = await setup.db.pool.query<{ ms: string }>(
    "SELECT floor(extract(epoch FROM min(sent_at)) * 1000)::bigint AS ms FROM realtime.messages m JOIN realtime.channels c ON c.id = m.channel_id WHERE c.slug = 'archive'",
  );
  const result = await realtime(['replay', 'archive', String(first?.ms), '--after', '9990', '--limit', '5', '--json'], { databaseUrl: setup.db.url });
  assert.equal(result.code, 0, result.stderr);
  const rows = JSON.parse(result.stdout) as Array<{ offset: number; payload: { n: number } }>;
  assert.deepEqual(
    rows.map((row) => [row.offset, row.payload.n]),
    [
      [9991, 9991],
      [9992, 9992],
      [9993, 9993],
      [9994, 9994],
      [9995, 9995],
    ],
  );
  const refused = await realtime(['replay', 'archive', '--after', 'last'], { databaseUrl: setup.db.url });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^error: --after must be a whole number/);
});
