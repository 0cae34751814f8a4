// Table change filters under attack: bounded in size, and judged so that costly filters delay only their own subscribers.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { useRoleServer, watchChanges, type Watched } from './postgres-changes-support.js';
import { RawClient, type Frame } from './raw-client.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { token } from '../helpers/tokens.js';

const FILTER_BUDGET_MS = 250;

const env = useRoleServer(
  'rt_filterer',
  (role) => `
    GRANT USAGE ON SCHEMA public TO ${role};
    CREATE TABLE feed (id serial PRIMARY KEY, n int NOT NULL, body text);
    GRANT SELECT ON feed TO ${role};
  `,
  { limits: { filterBudgetMs: FILTER_BUDGET_MS } },
);

/** An attacker's raw connection with a user token of the test role. */
async function attackerSocket(): Promise<{ socket: RawClient; accessToken: string }> {
  const accessToken = await token('mallory', { role: env.role });
  return { socket: await RawClient.open(env.server, `vsn=2.0.0&apikey=${accessToken}`), accessToken };
}

/** The postgres_changes system messages of `topic` on a raw connection. */
function systemOf(socket: RawClient, topic: string): Array<{ status: string; message: string }> {
  return socket.frames.filter((frame: Frame) => frame[2] === topic && frame[3] === 'system').map((frame) => frame[4] as { status: string; message: string });
}

/** Joins `topic` with `bindings` and waits for the subscription's outcome (its first system message). */
async function attackerJoin(socket: RawClient, accessToken: string, topic: string, bindings: unknown[]): Promise<{ status: string; message: string }> {
  const ref = randomBytes(4).toString('hex');
  const reply = await socket.join(topic, ref, { postgres_changes: bindings }, { access_token: accessToken });
  assert.equal((reply[4] as { status: string }).status, 'ok', `join of ${topic}`);
  return waitFor(() => systemOf(socket, topic)[0], `the outcome of ${topic}`, 30_000);
}

/** An `in` filter on feed.n with `count` distinct values that no inserted row has. */
function heavyFilter(count: number, offset: number): string {
  return `n=in.(${Array.from({ length: count }, (_, index) => 1_000_000 + offset + index).join(',')})`;
}

/** Inserts rows one at a time and returns the longest time from INSERT to its arrival at `watched`. */
async function slowestDelivery(watched: Watched, rows: number): Promise<number> {
  let slowest = 0;
  for (let row = 0; row < rows; row += 1) {
    const before = watched.changes.length;
    const started = Date.now();
    await env.db.pool.query('INSERT INTO feed (n, body) VALUES (1, $1)', [`probe ${row}`]);
    await waitFor(() => watched.changes.length > before, 'the probe row', 60_000);
    slowest = Math.max(slowest, Date.now() - started);
    await sleep(100);
  }
  return slowest;
}

test('filters and joins beyond the limits are refused with the reason', async () => {
  const client = await env.userClient('alice');
  try {
    const many = await watchChanges(client, 'many-values', [{ event: '*', schema: 'public', table: 'feed', filter: heavyFilter(101, 0) }]);
    assert.equal(many.system[0]?.status, 'error');
    assert.match(many.system[0]?.message ?? '', /too many values for 'in' filter\. Maximum 100/);
    const long = await watchChanges(client, 'long-filter', [{ event: '*', schema: 'public', table: 'feed', filter: `body=eq.${'x'.repeat(5_000)}` }]);
    assert.match(long.system[0]?.message ?? '', /filters: \[body=eq\.x{192}…\]\]: filter is too long: 5008 characters\. Maximum 4096$/);
    const bindings = Array.from({ length: 101 }, (_, index) => ({ event: 'INSERT', schema: 'public', table: 'feed', filter: `n=eq.${index}` }));
    const crowded = await watchChanges(client, 'crowded', bindings);
    assert.match(crowded.system[0]?.message ?? '', /too many postgres_changes bindings: 101\. Maximum 100 per join/);
    const fits = await watchChanges(client, 'fits', [{ event: '*', schema: 'public', table: 'feed', filter: heavyFilter(100, 0) }]);
    assert.equal(fits.system[0]?.message, 'Subscribed to PostgreSQL', 'a filter of 100 values is accepted');
  } finally {
    await client.removeAllChannels();
  }
});

test("one connection's heavy filters leave another subscriber's deliveries quick", async () => {
  const victim = await env.userClient('victor');
  const { socket, accessToken } = await attackerSocket();
  try {
    const watched = await watchChanges(victim, 'victim', [{ event: 'INSERT', schema: 'public', table: 'feed' }]);
    assert.ok((await slowestDelivery(watched, 2)) < 2_000, 'deliveries are quick before the attack');

    // The attack as found: 90 subscriptions of 20,000-value filters. Each is refused now, without the filter repeated whole.
    for (let channel = 0; channel < 90; channel += 1) {
      const outcome = await attackerJoin(socket, accessToken, `realtime:huge-${channel}`, [
        { event: '*', schema: 'public', table: 'feed', filter: heavyFilter(20_000, channel * 20_000) },
      ]);
      assert.equal(outcome.status, 'error');
      assert.match(outcome.message, /filter is too long: \d+ characters\. Maximum 4096$/);
      assert.ok(outcome.message.length < 1_000, 'the refusal does not repeat the filter whole');
      socket.send([null, randomBytes(4).toString('hex'), `realtime:huge-${channel}`, 'phx_leave', {}]);
      await sleep(15);
    }
    // As much as the limits let one connection hold on this table: channels of 100 bindings of 100 values each.
    for (let channel = 0; channel < 10; channel += 1) {
      const bindings = Array.from({ length: 100 }, (_, index) => ({ event: '*', schema: 'public', table: 'feed', filter: heavyFilter(100, (channel * 100 + index) * 100) }));
      const outcome = await attackerJoin(socket, accessToken, `realtime:heavy-${channel}`, bindings);
      assert.equal(outcome.message, 'Subscribed to PostgreSQL');
      await sleep(15);
    }
    const slowest = await slowestDelivery(watched, 3);
    assert.ok(slowest < 2_000, `the victim's slowest delivery took ${slowest} ms`);
  } finally {
    await socket.close();
    await victim.removeAllChannels();
  }
});

test('a filter that cannot be judged within the budget fails only its own binding, with a system error', async () => {
  await env.db.pool.query(`
    CREATE FUNCTION slow_equal(int, int) RETURNS boolean LANGUAGE plpgsql STRICT IMMUTABLE AS $$ BEGIN PERFORM pg_sleep(2); RETURN $1 = $2; END $$;
    CREATE DOMAIN sluggish AS int;
    CREATE FUNCTION sluggish_equal(sluggish, sluggish) RETURNS boolean LANGUAGE sql STRICT IMMUTABLE AS $$ SELECT slow_equal($1::int, $2::int) $$;
    CREATE OPERATOR = (LEFTARG = sluggish, RIGHTARG = sluggish, FUNCTION = sluggish_equal);
    CREATE TABLE gauges (id serial PRIMARY KEY, level sluggish);
    GRANT SELECT ON gauges TO ${env.role};
  `);
  const victim = await env.userClient('victor');
  const { socket, accessToken } = await attackerSocket();
  try {
    const watched = await watchChanges(victim, 'gauges-victim', [{ event: 'INSERT', schema: 'public', table: 'gauges', filter: 'id=gt.0' }]);
    const outcome = await attackerJoin(socket, accessToken, 'realtime:sluggish', [{ event: 'INSERT', schema: 'public', table: 'gauges', filter: 'level=eq.7' }]);
    assert.equal(outcome.message, 'Subscribed to PostgreSQL');
    const started = Date.now();
    await env.db.pool.query('INSERT INTO gauges (level) VALUES (7)');
    await waitFor(() => watched.changes.length === 1, "the victim's change", 20_000);
    const took = Date.now() - started;
    assert.ok(took < 2_000, `the victim waited ${took} ms`);
    const notice = await waitFor(() => systemOf(socket, 'realtime:sluggish')[1], 'the over-budget notice');
    assert.equal(notice.status, 'error');
    assert.match(notice.message, new RegExp(`filters: \\[level=eq\\.7\\]\\]: judging its filter took longer than ${FILTER_BUDGET_MS} ms`));
    assert.deepEqual(
      socket.frames.filter((frame) => frame[3] === 'postgres_changes'),
      [],
      'the change is withheld from the over-budget binding',
    );
  } finally {
    await socket.close();
    await victim.removeAllChannels();
  }
});
