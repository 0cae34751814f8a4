// The replication slot on `status`, `stats` and `cleanup --slots`: the WAL path, lag in bytes and seconds, the stale warning, a safe drop.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseTableName, setUpCapturePath, watchForWal, WalConsumer } from '@nself/db';
import { realtime } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { assertUserError } from './support.js';

let db: TestDatabase;
let logical = false;
let slot = '';
const run = (args: string[], env: Record<string, string> = {}) => realtime(args, { databaseUrl: db.url, env: { REALTIME_PORT: '1', REALTIME_HOST: '127.0.0.1', ...env } });

interface StatusJson {
  tableChanges: {
    path: string;
    reason: string;
    walCapture: boolean;
    maxSlotWalKeepBytes: number | null;
    warnings: string[];
    slot: {
      name: string;
      exists: boolean;
      active: boolean;
      activePid: number | null;
      walStatus: string | null;
      lagBytes: number;
      retainedBytes: number;
      secondsSinceRead: number | null;
    };
  };
}

async function status(env: Record<string, string> = {}): Promise<StatusJson['tableChanges']> {
  const result = await run(['status', '--json'], env);
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as StatusJson).tableChanges;
}

async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const slotActive = async () => (await db.pool.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot])).rowCount === 1;

before(async () => {
  db = await createTestDatabase({ migrated: true });
  logical = (await db.pool.query<{ wal_level: string }>('SHOW wal_level')).rows[0]?.wal_level === 'logical';
  if (!logical) return;
  await db.pool.query('CREATE TABLE public.items (id bigserial PRIMARY KEY, name text)');
  const path = await setUpCapturePath(db.pool);
  assert.equal(path.path, 'wal', path.reason);
  slot = path.slot;
  await watchForWal(db.pool, [parseTableName('public.items')], []);
});
after(async () => {
  await db.drop();
});

test('status shows the WAL path, the slot and its lag; the lag in bytes grows while no consumer reads it', async (t) => {
  if (!logical) return t.skip('wal_level is not logical');
  const first = await status();
  assert.equal(first.path, 'wal');
  assert.match(first.reason, /read from the write-ahead log/);
  assert.equal(first.slot.name, slot);
  assert.equal(first.slot.exists, true);
  assert.equal(first.slot.active, false);
  assert.equal(typeof first.slot.lagBytes, 'number');
  assert.ok(first.slot.retainedBytes >= first.slot.lagBytes);
  assert.ok(first.slot.secondsSinceRead !== null && first.slot.secondsSinceRead < 60, 'a new slot counts as read when it was made');
  await db.pool.query(`INSERT INTO public.items (name) SELECT repeat('x', 200) FROM generate_series(1, 2000)`);
  const second = await status();
  assert.ok(second.slot.lagBytes > first.slot.lagBytes + 400_000, `the lag grew from ${first.slot.lagBytes} to ${second.slot.lagBytes} bytes`);

  const text = await run(['status']);
  assert.match(text.stdout, /\nTable changes\n {2}path +wal: table changes are read from the write-ahead log/);
  assert.match(text.stdout, new RegExp(`\\n {2}slot +${slot}, not active \\(no consumer reads it\\)\\n`));
  assert.match(text.stdout, /\n {2}lag +\d+\.\d (KiB|MiB) not yet confirmed, \d+\.\d (KiB|MiB) of WAL retained; last read \d+ s ago\n/);
  assert.match(text.stdout, /\n {2}wal_status +reserved \(max_slot_wal_keep_size /);

  const stats = await run(['stats', '--json']);
  assert.equal(stats.code, 0, stats.stderr);
  const [row] = (JSON.parse(stats.stdout) as { replication_slot: Record<string, unknown>[] }).replication_slot;
  assert.equal(row?.slot, slot);
  assert.equal(row?.path, 'wal');
  assert.ok(Number(row?.lag_bytes) >= second.slot.lagBytes, 'stats has the lag too');
  assert.match((await run(['stats'])).stdout, /\nReplication slot\n path +\| slot +\| exists \| active \| lag_bytes \| retained_bytes \| seconds_since_read \| wal_status/);
});

test('a slot unread for longer than REALTIME_SLOT_STALE_SECONDS is a warning on status, naming the command that drops it', async (t) => {
  if (!logical) return t.skip('wal_level is not logical');
  await db.pool.query(`UPDATE realtime.capture_state SET wal_consumer_seen_at = now() - interval '10 minutes'`);
  const report = await status();
  assert.ok(
    report.warnings.some((warning) => warning.includes(`the replication slot ${slot} has had no consumer for 6`)),
    report.warnings.join('\n'),
  );
  assert.equal(
    (await status({ REALTIME_SLOT_STALE_SECONDS: '3600' })).warnings.some((warning) => warning.includes('no consumer')),
    false,
  );
  const text = await run(['status']);
  assert.match(
    text.stdout,
    new RegExp(
      `\\n {2}WARNING +the replication slot ${slot} has had no consumer for \\d+ s \\(REALTIME_SLOT_STALE_SECONDS is 300\\) and keeps [\\d.]+ \\w+ of WAL, .*\`nself realtime cleanup --slots\`\\n`,
    ),
  );
  assertUserError(await run(['status'], { REALTIME_SLOT_STALE_SECONDS: 'soon' }), /REALTIME_SLOT_STALE_SECONDS "soon" is not valid; expected a whole number from 1 to/);
});

test('a running consumer records when it read the slot', async (t) => {
  if (!logical) return t.skip('wal_level is not logical');
  const consumer = new WalConsumer({ pool: db.pool, connection: { connectionString: db.url }, retryMs: 200 });
  try {
    await waitUntil(slotActive, 'the consumer to read the slot');
    await waitUntil(async () => ((await status()).slot.secondsSinceRead ?? Infinity) < 5, 'the consumer to record its read');
    const report = await status();
    assert.equal(report.slot.active, true);
    assert.equal(typeof report.slot.activePid, 'number');
    assert.equal(
      report.warnings.some((warning) => warning.includes('no consumer')),
      false,
    );
  } finally {
    await consumer.stop();
  }
});

test('cleanup --slots refuses while a consumer reads the slot, and drops it when none does', async (t) => {
  if (!logical) return t.skip('wal_level is not logical');
  const consumer = new WalConsumer({ pool: db.pool, connection: { connectionString: db.url }, retryMs: 200 });
  try {
    await waitUntil(slotActive, 'the consumer to read the slot');
    assertUserError(await run(['cleanup', '--slots']), new RegExp(`the replication slot ${slot} is being read by a running server \\(backend pid \\d+\\); stop it first`));
    assert.equal(await slotActive(), true, 'the slot is still there and read');
    assert.equal((await db.pool.query('SELECT wal_capture FROM realtime.capture_state')).rows[0].wal_capture, true, 'nothing changed');
  } finally {
    await consumer.stop();
  }
  assertUserError(await run(['cleanup', '48', '--slots']), /cleanup --slots drops the replication slot and takes no hours, got "48"/);
  const dropped = await run(['cleanup', '--slots']);
  assert.equal(dropped.code, 0, dropped.stderr);
  assert.match(dropped.stdout, new RegExp(`^Dropped the replication slot ${slot}: it kept [\\d.]+ \\w+ of WAL`));
  assert.match(
    dropped.stdout,
    /\nRecorded a gap after the newest position: the replication slot .* was dropped/,
    'the consumer had logged the rows written above: a resume from before now cannot be complete',
  );
  assert.match(dropped.stdout, /captured by triggers until a server reads the WAL again/);
  assert.equal((await db.pool.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot])).rowCount, 0);
  const state = (await db.pool.query('SELECT wal_capture, wal_gap_after = last_position AS gap_now FROM realtime.capture_state')).rows[0];
  assert.deepEqual(state, { wal_capture: false, gap_now: true });

  const report = await status();
  assert.equal(report.path, 'trigger');
  assert.match(report.reason, new RegExp(`there is no replication slot ${slot}: table changes are captured by triggers`));
  assert.equal(report.slot.exists, false);
  assert.deepEqual(report.warnings, []);
  assert.match((await run(['status'])).stdout, new RegExp(`\\n {2}path +trigger: there is no replication slot .*\\n {2}slot +${slot}: does not exist\\n`));
  const again = await run(['cleanup', '--slots']);
  assert.equal(again.stdout, `There is no replication slot ${slot} on this database; nothing to drop.\n`);
});
