// B10: what one PostgreSQL carries as the bus: stored broadcasts (realtime.append_messages), NOTIFY wake-ups and table changes (trigger and WAL paths) per second, with what limits each.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createChannel, loadNoteKeys } from '@nself/db';
import { createBenchDatabase, type BenchDatabase } from './lib/database.js';
import { readOptions } from './lib/options.js';
import { pgbenchAvailable, runPgbenchCounted } from './lib/pgbench.js';
import { fmt, publishResult, type Table } from './lib/report.js';
import { median } from './lib/stats.js';
import { onTeardown, teardown } from './lib/teardown.js';
import { measureWriterCost, type Run as WriterRun } from './lib/writer-cost.js';

const options = readOptions('node --import tsx bench/b10-bus-ceiling.ts [options]', {
  seconds: { fallback: 3, help: 'seconds of pgbench per figure', min: 1 },
  connections: { fallback: 8, help: 'writer connections (pgbench clients)', min: 1 },
  batch: { fallback: 50, help: 'broadcasts per realtime.append_messages call in the batched case', min: 2 },
  changes: { fallback: 1, help: '1: also measure table changes through an nself server (trigger and WAL paths); 0: skip', min: 0 },
});

if (!pgbenchAvailable()) {
  process.stderr.write('error: pgbench is not on PATH (it comes with PostgreSQL; Debian: apt-get install postgresql-client)\n');
  process.exit(2);
}

/** One bus workload: a pgbench script run once per transaction, and how many rows and notifications each transaction makes. */
interface Workload {
  readonly label: string;
  readonly script: string;
  readonly rowsPerTransaction: number;
  readonly notificationsPerTransaction: number;
}

/** What one workload did in one run. */
interface BusRun {
  readonly tps: number;
  /** Notifications the listener received per second of the run. */
  readonly notifiedPerSecond: number;
  /** WAL flushes (pg_stat_wal.wal_sync, the whole cluster) per second; NaN before PostgreSQL 14. */
  readonly flushesPerSecond: number;
}

const WAKE_CHANNEL = 'bus_wake';
const BROADCAST_CHANNEL = 'realtime:broadcast';
const PAYLOAD = `{"p":"${'x'.repeat(80)}"}`;

const started = Date.now();
const loadBefore = loadavg()[0] ?? 0;
const scratch = mkdtempSync(path.join(tmpdir(), 'nself-bus-ceiling-'));
onTeardown(async () => rmSync(scratch, { recursive: true, force: true }));

/** Counts the notifications of the bus channels on its own connection. */
class Listener {
  received = 0;
  private constructor(private readonly client: pg.Client) {
    client.on('notification', () => {
      this.received += 1;
    });
  }

  static async start(url: string): Promise<Listener> {
    const client = new pg.Client({ connectionString: url, application_name: 'bus-ceiling listener' });
    await client.connect();
    for (const channel of [WAKE_CHANNEL, BROADCAST_CHANNEL]) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    return new Listener(client);
  }

  /** Waits until the count stops growing for `quietMs`. */
  async settle(quietMs = 500): Promise<void> {
    for (let last = -1; last !== this.received;) {
      last = this.received;
      await new Promise((resolve) => setTimeout(resolve, quietMs));
    }
  }

  close(): Promise<void> {
    return this.client.end();
  }
}

/** Appends `count` broadcasts of the client's own (public) channel in one call, as the server's group commit does; with `carry`, each notification carries its message, signed. */
function appendScript(count: number, carry = false): string {
  const fill = (value: string, type: string) => `array_fill(${value}::${type}, ARRAY[${count}])`;
  return `SELECT count(*) FROM realtime.append_messages((SELECT id FROM realtime.channels WHERE slug = 'bus' || :client_id), ARRAY(SELECT gen_random_uuid() FROM generate_series(1, ${count})), ${fill("'m'", 'text')}, ${fill(`'${PAYLOAD}'`, 'jsonb')}, ${fill('NULL', 'text')}, ${fill('NULL', 'bytea')}, ${carry});\n`;
}

const WORKLOADS: readonly Workload[] = [
  {
    label: 'INSERT of a 100-byte row, no NOTIFY',
    script: "INSERT INTO public.bus_rows (body) VALUES (repeat('x', 100));\n",
    rowsPerTransaction: 1,
    notificationsPerTransaction: 0,
  },
  {
    label: 'the same INSERT + pg_notify',
    script: `BEGIN;\nINSERT INTO public.bus_rows (body) VALUES (repeat('x', 100));\nSELECT pg_notify('${WAKE_CHANNEL}', :client_id::text);\nCOMMIT;\n`,
    rowsPerTransaction: 1,
    notificationsPerTransaction: 1,
  },
  { label: 'pg_notify alone (no write)', script: `SELECT pg_notify('${WAKE_CHANNEL}', :client_id::text);\n`, rowsPerTransaction: 0, notificationsPerTransaction: 1 },
  { label: 'realtime.append_messages, 1 broadcast per call', script: appendScript(1), rowsPerTransaction: 1, notificationsPerTransaction: 1 },
  {
    label: `realtime.append_messages, ${options.batch} broadcasts per call`,
    script: appendScript(options.batch),
    rowsPerTransaction: options.batch,
    notificationsPerTransaction: options.batch,
  },
  {
    label: `the same, each message carried in its notification and signed (as the server stores a public channel's)`,
    script: appendScript(options.batch, true),
    rowsPerTransaction: options.batch,
    notificationsPerTransaction: options.batch,
  },
];

async function walFlushes(db: BenchDatabase): Promise<number> {
  const { rows } = await db.pool.query<{ n: string | null }>(
    "SELECT CASE WHEN current_setting('server_version_num')::int >= 140000 THEN (SELECT wal_sync FROM pg_catalog.pg_stat_wal)::text END AS n",
  );
  return rows[0]?.n === null || rows[0]?.n === undefined ? Number.NaN : Number(rows[0].n);
}

/** Runs `workload` with pgbench while the listener counts its notifications. */
async function runBus(db: BenchDatabase, listener: Listener, workload: Workload, scriptFile: string, asyncCommit: boolean): Promise<BusRun> {
  await db.pool.query('TRUNCATE public.bus_rows');
  await listener.settle(200);
  const receivedBefore = listener.received;
  const flushesBefore = await walFlushes(db);
  const { tps, transactions } = await runPgbenchCounted(db.url, scriptFile, options.connections, options.seconds, asyncCommit);
  // pgbench's backends report their WAL statistics as they exit, just after pgbench does.
  await listener.settle();
  const flushes = (await walFlushes(db)) - flushesBefore;
  // pgbench's rate leaves out the time its connections took to open: the seconds its transactions ran are transactions ÷ rate.
  const seconds = transactions / tps;
  return { tps, notifiedPerSecond: (listener.received - receivedBefore) / seconds, flushesPerSecond: flushes / seconds };
}

/** The bus workloads, synchronous_commit on (as shipped) and off, round after round (the order of workloads reversed every other round); figures are medians of the rounds. */
async function measureBus(): Promise<Table> {
  const db = await createBenchDatabase(2);
  onTeardown(() => db.drop());
  await db.pool.query('CREATE TABLE public.bus_rows (id bigserial PRIMARY KEY, body text NOT NULL)');
  for (let client = 0; client < options.connections; client += 1) await createChannel(db.pool, { name: `bus${client}` });
  // The key a server makes at its first start, which signs the carried workload's notifications.
  await loadNoteKeys(db.pool);
  const listener = await Listener.start(db.url);
  onTeardown(() => listener.close());
  const scripts = WORKLOADS.map((workload, index) => {
    const scriptFile = path.join(scratch, `workload${index}.sql`);
    writeFileSync(scriptFile, workload.script);
    return scriptFile;
  });
  const runs = WORKLOADS.map(() => ({ sync: [] as BusRun[], async: [] as BusRun[] }));
  for (let round = 0; round < options.reps; round += 1) {
    const order = WORKLOADS.map((_, index) => index);
    for (const index of round % 2 === 0 ? order : order.reverse()) {
      const workload = WORKLOADS[index];
      const scriptFile = scripts[index];
      const sideRuns = runs[index];
      if (!workload || !scriptFile || !sideRuns) continue;
      const sync = await runBus(db, listener, workload, scriptFile, false);
      const async = await runBus(db, listener, workload, scriptFile, true);
      sideRuns.sync.push(sync);
      sideRuns.async.push(async);
      process.stderr.write(`  round ${round + 1}/${options.reps}, ${workload.label}: ${fmt(sync.tps, 0)} TPS (synchronous_commit off: ${fmt(async.tps, 0)})\n`);
    }
  }
  const rows = WORKLOADS.map((workload, index) => {
    const { sync, async } = runs[index] ?? { sync: [], async: [] };
    const of = (list: readonly BusRun[], pick: (run: BusRun) => number) => median(list.map(pick));
    const perFlush = of(sync, (run) => (run.flushesPerSecond > 0 ? run.tps / run.flushesPerSecond : Number.NaN));
    return [
      workload.label,
      fmt(
        of(sync, (run) => run.tps),
        0,
      ),
      workload.rowsPerTransaction > 0 ? fmt(of(sync, (run) => run.tps) * workload.rowsPerTransaction, 0) : '–',
      workload.notificationsPerTransaction > 0
        ? fmt(
            of(sync, (run) => run.notifiedPerSecond),
            0,
          )
        : '–',
      fmt(
        of(sync, (run) => run.flushesPerSecond),
        0,
      ),
      fmt(perFlush, 1),
      fmt(
        of(async, (run) => run.tps),
        0,
      ),
      workload.rowsPerTransaction > 0 ? fmt(of(async, (run) => run.tps) * workload.rowsPerTransaction, 0) : '–',
    ];
  });
  return {
    title: `${options.connections} connections (pgbench) for ${options.seconds} s each, one LISTEN connection counting the notifications (medians of ${options.reps})`,
    columns: [
      'workload (one per transaction)',
      'transactions / s',
      'rows (stored broadcasts) / s',
      'notifications received / s',
      'WAL flushes / s (cluster)',
      'transactions per flush',
      'synchronous_commit off: transactions / s',
      'rows / s',
    ],
    rows,
  };
}

/** Table changes carried through an nself server to a live subscriber, trigger and WAL paths, from the writer-cost measurement. */
async function measureChanges(): Promise<Table> {
  const cost = await measureWriterCost({ seconds: options.seconds, rounds: options.reps, asyncCommit: false }, (line) => process.stderr.write(`  ${line}\n`));
  const writers = 8;
  const carried = (run: WriterRun) => (run.delivery ? run.delivery.received / (run.seconds + run.delivery.catchUpS) : Number.NaN);
  const row = (label: string, runs: readonly WriterRun[], delivered: boolean) => {
    const of = (pick: (run: WriterRun) => number) => median(runs.map(pick));
    return [
      label,
      fmt(
        of((run) => run.written / run.seconds),
        0,
      ),
      delivered ? fmt(of(carried), 0) : '–',
      delivered
        ? fmt(
            of((run) => run.delivery?.catchUpS ?? Number.NaN),
            1,
          )
        : '–',
      fmt(
        of((run) => (run.cpu ? (run.cpu.walsenders / run.seconds) * 100 : Number.NaN)),
        0,
      ),
      fmt(
        of((run) => (run.cpu ? (run.cpu.server / run.seconds) * 100 : Number.NaN)),
        0,
      ),
    ];
  };
  return {
    title: `table changes (medians of ${options.reps}): ${writers} pgbench writers of single-row INSERTs (about 250 bytes) for ${options.seconds} s, ${cost.postgres}; the capture paths with an nself server and one postgres_changes subscriber counting every change`,
    columns: ['setup', 'written / s', 'delivered / s (until the last arrived)', 'last change after the writers, s', 'walsender CPU %', 'server CPU %'],
    rows: [
      row('no capture', cost.runs('none', writers), false),
      row('bare pg_notify trigger', cost.runs('notify', writers), false),
      row('trigger path (REALTIME_CAPTURE=trigger)', cost.runs('trigger', writers), true),
      row('WAL path (wal_level=logical)', cost.runs('wal', writers), true),
    ],
  };
}

try {
  const tables = [await measureBus()];
  if (options.changes === 1) tables.push(await measureChanges());
  publishResult({
    id: 'B10',
    title: 'PostgreSQL as the bus: stored broadcasts, NOTIFY wake-ups and table changes per second',
    date: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    options,
    targets: [],
    deliveryProblems: 0,
    tables,
    notes: [
      `Load average ${loadBefore.toFixed(1)} before and ${(loadavg()[0] ?? 0).toFixed(1)} after this benchmark. These are absolute figures of one PostgreSQL on this machine (pgbench and PostgreSQL share its cores), not ratios: re-take them where the bus will run.`,
      'Each workload is one pgbench transaction, repeated by every connection as fast as it can. "WAL flushes" is pg_stat_wal.wal_sync over the run (the whole cluster, other databases included; PostgreSQL 14 and later); "transactions per flush" shows group commit: several transactions made durable by one flush.',
      "A transaction that sends a notification holds PostgreSQL's notify lock (one per cluster) from just before its commit until the commit is done, the WAL flush included: notifying transactions commit one at a time, so they cannot share flushes, and with synchronous_commit on their rate is about one per flush time. Transactions that notify nothing group-commit. A stored broadcast is such a transaction: batching several broadcasts of a channel into one call (the server's group commit) is how the stored rate exceeds the flush rate.",
      'pg_notify alone writes no WAL, so it needs no flush: it measures the notification queue itself (the same lock, and the listeners reading the queue).',
      ...(options.changes === 1
        ? [
            "Table changes: \"delivered / s\" counts the changes the subscriber received from the writers' start until the last one arrived. The trigger path writes a log row per change in the writer's transaction and notifies (the notify lock again); the WAL path adds nothing to the writer's transaction and is limited by decoding (the walsender) and the server reading, logging and delivering each change.",
          ]
        : []),
    ],
  });
} finally {
  await teardown();
}
