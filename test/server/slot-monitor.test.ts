// The replication slot seen from the server: gauges on /metrics, which process consumes it, and the loud error for a slot nobody reads.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { dropWalSlot, walSlotName } from '@nself/db';
import type { PostgresChangesExtension, RunningServer } from '@nself/server';
import type { TestDatabase } from '../helpers/database.js';
import { createTestDatabase } from '../helpers/database.js';
import { startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

let db: TestDatabase;
let logical = false;
let slot = '';
const logFile = path.join(os.tmpdir(), `nself-slot-monitor-${randomBytes(4).toString('hex')}.log`);

/** A server whose table-change extension never reads the WAL: the slot stays unread while it runs. */
const withoutConsumer = (): PostgresChangesExtension => ({
  subscribe: async () => ({ updateIdentity: async () => undefined, close: async () => undefined }),
});

async function metrics(server: RunningServer): Promise<string> {
  const response = await fetch(`${server.url}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
}

/** The value of `name` in a scrape, for the slot of this database; undefined when it has none. */
function gauge(text: string, name: string): number | undefined {
  const line = text.split('\n').find((entry) => entry.startsWith(`${name}{slot="${slot}"} `) || entry.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

before(async () => {
  db = await createTestDatabase({ migrated: true });
  logical = (await db.pool.query<{ wal_level: string }>('SHOW wal_level')).rows[0]?.wal_level === 'logical';
  slot = await walSlotName(db.pool);
});
after(async () => {
  await db.drop();
  await rm(logFile, { force: true });
});

test('/metrics has the slot gauges, and realtime_wal_consumer_leading is 1 in the process that reads the slot', async (t) => {
  if (!logical) return t.skip('wal_level is not logical');
  const server = await startTestServer(db);
  try {
    const text = await waitFor(
      async () => {
        const scraped = await metrics(server);
        return gauge(scraped, 'realtime_wal_consumer_leading') === 1 && (gauge(scraped, 'realtime_wal_slot_seconds_since_read') ?? Infinity) < 5 && scraped;
      },
      'the server to read the slot and record it',
      20_000,
    );
    assert.ok((gauge(text, 'realtime_wal_slot_lag_bytes') ?? -1) >= 0, text);
    assert.ok((gauge(text, 'realtime_wal_slot_retained_bytes') ?? -1) >= 0);
    assert.match(text, /# HELP realtime_wal_slot_lag_bytes WAL written since the consumer last confirmed/);
    assert.doesNotMatch(text, /NaN/);
  } finally {
    await server.close();
  }
});

test('a slot no consumer reads for longer than REALTIME_SLOT_STALE_SECONDS is logged as an error naming the slot, the WAL it keeps and the command to drop it', async (t) => {
  if (!logical) return t.skip('wal_level is not logical');
  const server = await startTestServer(db, { env: { REALTIME_SLOT_STALE_SECONDS: '1' }, logFile, postgresChanges: withoutConsumer });
  try {
    await db.pool.query(`INSERT INTO realtime.channels (slug, name) SELECT 'c' || i, 'c' || i FROM generate_series(1, 500) AS i`);
    const line = await waitFor(
      async () => (await readFile(logFile, 'utf8').catch(() => '')).split('\n').find((entry) => entry.includes('STALE REPLICATION SLOT')),
      'the stale slot error',
      15_000,
    );
    const entry = JSON.parse(line) as { level: number; code: string; msg: string; slot: string; retainedBytes: number };
    assert.equal(entry.level, 50, 'logged as an error');
    assert.equal(entry.code, 'capture.wal.slot_stale', 'with the code docs/errors.md explains');
    assert.equal(entry.slot, slot);
    assert.ok(entry.retainedBytes > 0);
    assert.match(entry.msg, new RegExp(`the replication slot ${slot} has had no consumer for \\d+ s \\(REALTIME_SLOT_STALE_SECONDS is 1\\) and keeps [\\d.]+ \\w+ of WAL`));
    assert.match(entry.msg, /drop it with `nself realtime cleanup --slots`/);
    const text = await metrics(server);
    assert.equal(gauge(text, 'realtime_wal_consumer_leading'), 0, 'this process does not read the slot');
    assert.ok((gauge(text, 'realtime_wal_slot_seconds_since_read') ?? 0) > 1);
    assert.ok((gauge(text, 'realtime_wal_slot_lag_bytes') ?? 0) > 0, 'the channels written above are WAL the slot has not confirmed');

    // Without a slot (the trigger path) the slot gauges have no value, and nothing is NaN.
    assert.ok(await dropWalSlot(db.pool));
    const bare = await metrics(server);
    assert.equal(gauge(bare, 'realtime_wal_slot_lag_bytes'), undefined);
    assert.equal(gauge(bare, 'realtime_wal_slot_retained_bytes'), undefined);
    assert.equal(gauge(bare, 'realtime_wal_slot_seconds_since_read'), undefined);
    assert.match(bare, /# TYPE realtime_wal_slot_lag_bytes gauge/);
    assert.doesNotMatch(bare, /NaN/);
  } finally {
    await server.close();
  }
});
