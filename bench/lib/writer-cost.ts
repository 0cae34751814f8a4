// What table-change capture costs the application's writers: pgbench INSERT TPS of five setups side by side on one PostgreSQL, each capture path with a live subscriber.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { parseTableName, setUpCapturePath, subscribe } from '@nself/db';
import { ChangeCounter } from './change-counter.js';
import { ClusterCpu, type ClusterCpuTime } from './cluster-cpu.js';
import { createBenchDatabase, type BenchDatabase } from './database.js';
import { runPgbench } from './pgbench.js';
import { nselfToken, startService, type Service } from './services.js';
import { onTeardown } from './teardown.js';

/** Concurrent writers of each figure. */
export const WRITER_COUNTS = [1, 8] as const;

/** The setups compared. */
export type Variant = 'none' | 'notify' | 'wal' | 'trigger' | 'seed';
export const VARIANTS: readonly Variant[] = ['none', 'notify', 'wal', 'trigger', 'seed'];
export const VARIANT_LABELS: Record<Variant, string> = {
  none: 'no capture',
  notify: 'bare pg_notify trigger',
  wal: 'WAL path, server + subscriber',
  trigger: 'trigger path, server + subscriber',
  seed: 'seed subscribe trigger, WAL mode',
};

/** CPU seconds used while the writers ran, by process role. */
export interface RunCpu extends ClusterCpuTime {
  /** The nself server process. */
  readonly server: number;
  /** This process: the subscriber (and the sampling). */
  readonly subscriber: number;
}

/** One run of one variant at one writer count. */
export interface Run {
  readonly tps: number;
  readonly written: number;
  /** Seconds the writers ran. */
  readonly seconds: number;
  /** Variants with a server: distinct rows the subscriber received, rows received twice, and seconds from the writers' end to the last change. */
  readonly delivery?: { readonly received: number; readonly duplicates: number; readonly catchUpS: number };
  /** Undefined when PostgreSQL does not run on this host. */
  readonly cpu?: RunCpu;
}

/** Everything one measurement found. */
export interface WriterCost {
  /** e.g. "PostgreSQL 15.20, wal_level=logical, synchronous_commit=on". */
  readonly postgres: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly loadBefore: number;
  readonly loadAfter: number;
  runs(variant: Variant, writers: number): readonly Run[];
  /** What went wrong besides the figures (log rows the seed trigger wrote in WAL mode). */
  readonly problems: readonly string[];
  /** Warnings and errors in the servers' logs, each distinct message once with its count (the trigger-path server warns at start that it does not read the WAL). */
  readonly serverLog: readonly string[];
}

export interface WriterCostOptions {
  readonly seconds: number;
  readonly rounds: number;
  readonly asyncCommit: boolean;
}

/** How a variant is set up: its database and table, and for those with a server, how it is started. */
interface Setup {
  readonly db: BenchDatabase;
  readonly table: string;
  readonly script: string;
  readonly server?: { readonly capture: 'auto' | 'trigger'; readonly logFile: string };
}

const TABLE_SHAPE = '(id bigserial PRIMARY KEY, author text NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())';
/** How long the subscriber may stay silent after the writers stopped before what it has is counted. */
const QUIET_MS = 10_000;
/** How long the first change may take to arrive after a server starts (it first reads the WAL written since its last run). */
const WARM_UP_MS = 60_000;

/**
 * Creates the databases, then runs every variant at every writer count, round after round (the order
 * of variants reversed every other round), starting a variant's server and subscriber before its run
 * and stopping them after it, so that no capture runs while another variant writes.
 */
export async function measureWriterCost(options: WriterCostOptions, log: (line: string) => void): Promise<WriterCost> {
  const startedAt = new Date();
  const loadBefore = loadavg()[0] ?? 0;
  const scratch = mkdtempSync(path.join(tmpdir(), 'nself-writer-cost-'));
  onTeardown(async () => rmSync(scratch, { recursive: true, force: true }));
  const setups = await createSetups(scratch);
  const { pool } = setups.none.db;
  const postgres = await describePostgres(pool, options.asyncCommit);
  const cpu = await ClusterCpu.find(pool);
  const token = await nselfToken('bench-writer-cost', 'service_role');
  const runs = new Map<string, Run[]>();
  const problems: string[] = [];
  for (let round = 1; round <= options.rounds; round += 1) {
    for (const writers of WRITER_COUNTS) {
      for (const variant of round % 2 === 1 ? VARIANTS : [...VARIANTS].reverse()) {
        const run = await measureOnce(variant, setups[variant], writers, options, token, cpu, problems);
        runs.set(`${variant}|${writers}`, [...(runs.get(`${variant}|${writers}`) ?? []), run]);
        const delivered = run.delivery ? `, ${run.delivery.received}/${run.written} received, last ${run.delivery.catchUpS.toFixed(1)} s after the writers` : '';
        log(`round ${round}/${options.rounds}, ${writers} writer(s), ${VARIANT_LABELS[variant]}: ${run.tps.toFixed(0)} TPS${delivered} (load ${loadavg()[0]?.toFixed(1)})`);
      }
    }
  }
  return {
    postgres,
    startedAt,
    finishedAt: new Date(),
    loadBefore,
    loadAfter: loadavg()[0] ?? 0,
    problems,
    serverLog: serverLogWarnings(setups),
    runs: (variant, writers) => runs.get(`${variant}|${writers}`) ?? [],
  };
}

/**
 * Four databases, since the capture path is chosen per database: one with a plain table and a table
 * with a bare pg_notify trigger; one for the server on the WAL path; one for the server on the
 * trigger path; one whose WAL path is set up (no server), with a table subscribed as `nself realtime
 * subscribe` does, whose trigger then only notifies.
 */
async function createSetups(scratch: string): Promise<Record<Variant, Setup>> {
  const database = async () => {
    const db = await createBenchDatabase(4);
    onTeardown(() => db.drop());
    return db;
  };
  const plain = await database();
  const level = await plain.pool.query<{ wal_level: string }>("SELECT current_setting('wal_level') AS wal_level");
  if (level.rows[0]?.wal_level !== 'logical')
    throw new Error(`wal_level is ${level.rows[0]?.wal_level}: the WAL path needs wal_level = logical (ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL)`);
  const setup = async (db: BenchDatabase, table: string, server?: Setup['server']): Promise<Setup> => {
    await db.pool.query(`CREATE TABLE public.${pg.escapeIdentifier(table)} ${TABLE_SHAPE}`);
    const script = path.join(scratch, `${table}.sql`);
    writeFileSync(script, `INSERT INTO public.${pg.escapeIdentifier(table)} (author, body) VALUES ('user-' || :client_id, repeat('x', 200));\n`);
    return { db, table, script, ...(server ? { server } : {}) };
  };

  const none = await setup(plain, 'bench_plain');
  const notify = await setup(plain, 'bench_notify');
  await plain.pool.query(`CREATE FUNCTION public.bench_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('bench', row_to_json(NEW)::text); RETURN NULL; END $$`);
  await plain.pool.query('CREATE TRIGGER bench_notify AFTER INSERT ON public.bench_notify FOR EACH ROW EXECUTE FUNCTION public.bench_notify()');

  const wal = await setup(await database(), 'bench_wal', { capture: 'auto', logFile: path.join(scratch, 'server-wal.log') });

  const triggerDb = await database();
  const trigger = await setup(triggerDb, 'bench_trigger', { capture: 'trigger', logFile: path.join(scratch, 'server-trigger.log') });

  const seedDb = await database();
  const seed = await setup(seedDb, 'bench_seed');
  const capturePath = await setUpCapturePath(seedDb.pool);
  if (capturePath.path !== 'wal') throw new Error(`the WAL path could not be set up for the seed trigger: ${capturePath.reason}`);
  await subscribe(seedDb.pool, { table: parseTableName('public.bench_seed'), notifyRows: true });
  await expectPath('seed', seed);
  return { none, notify, wal, trigger, seed };
}

async function describePostgres(pool: pg.Pool, asyncCommit: boolean): Promise<string> {
  const { rows } = await pool.query<{ version: string; wal_level: string }>("SELECT current_setting('server_version') AS version, current_setting('wal_level') AS wal_level");
  return `PostgreSQL ${rows[0]?.version}, wal_level=${rows[0]?.wal_level}, synchronous_commit=${asyncCommit ? 'off' : 'on'}`;
}

/** One run: a fresh table and log, the variant's server and subscriber (caught up), pgbench, then every change waited for. */
async function measureOnce(
  variant: Variant,
  setup: Setup,
  writers: number,
  options: WriterCostOptions,
  token: string,
  cpu: ClusterCpu | undefined,
  problems: string[],
): Promise<Run> {
  const { db, table } = setup;
  await db.pool.query(`TRUNCATE public.${pg.escapeIdentifier(table)}`);
  await db.pool.query('TRUNCATE realtime.changes');
  await db.pool.query('CHECKPOINT');
  let live: { service: Service; counter: ChangeCounter } | undefined;
  try {
    if (setup.server) {
      const service = await startService('nself', { databaseUrl: db.url, env: { REALTIME_CAPTURE: setup.server.capture, REALTIME_LOG_FILE: setup.server.logFile } });
      live = {
        service,
        counter: await ChangeCounter.open(service.target, token, table).catch(async (error: unknown) => {
          await service.stop();
          throw error;
        }),
      };
      await warmUp(variant, setup, live.counter, problems);
      await expectPath(variant, setup);
    }
    const before = await countRows(db, table);
    live?.counter.reset();
    const serverCpu = live?.service.usage().cpu ?? 0;
    const ownCpu = process.cpuUsage();
    const stopSampling = cpu?.start([db.name]);
    const started = Date.now();
    const tps = await runPgbench(db.url, setup.script, writers, options.seconds, options.asyncCommit);
    const ended = Date.now();
    const cluster = await stopSampling?.();
    const own = process.cpuUsage(ownCpu);
    const server = (live?.service.usage().cpu ?? 0) - serverCpu;
    const written = (await countRows(db, table)) - before;
    let delivery: Run['delivery'];
    if (live) {
      await live.counter.waitFor(written, QUIET_MS);
      delivery = { received: live.counter.received, duplicates: live.counter.duplicates, catchUpS: Math.max(0, live.counter.lastReceivedAt - ended) / 1000 };
    }
    if (variant === 'seed') await checkSeedRun(setup, problems);
    return {
      tps,
      written,
      seconds: (ended - started) / 1000,
      ...(delivery ? { delivery } : {}),
      ...(cluster ? { cpu: { ...cluster, server, subscriber: (own.user + own.system) / 1e6 } } : {}),
    };
  } finally {
    live?.counter.close();
    await live?.service.stop();
  }
}

/**
 * Inserts one row and waits until the subscriber has it: the server has read everything written
 * before. When it never arrives the run still goes ahead, its changes counted as usual, and the miss
 * is reported.
 */
async function warmUp(variant: Variant, setup: Setup, counter: ChangeCounter, problems: string[]): Promise<void> {
  await setup.db.pool.query(`INSERT INTO public.${pg.escapeIdentifier(setup.table)} (author, body) VALUES ('warm-up', 'x')`);
  await counter.waitFor(1, WARM_UP_MS, WARM_UP_MS);
  if (counter.received < 1) problems.push(`${VARIANT_LABELS[variant]}: a freshly started server's subscriber received no change within ${WARM_UP_MS / 1000} s of an INSERT`);
}

async function countRows(db: BenchDatabase, table: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM public.${pg.escapeIdentifier(table)}`);
  return Number(rows[0]?.n ?? 0);
}

/**
 * Checks that a variant runs the capture path it stands for: the WAL path reads the slot and has no
 * trigger on the table; the trigger path has triggers and the WAL path off; the seed trigger sits on a
 * table of a database whose WAL path is on (so it only notifies).
 */
async function expectPath(variant: Variant, setup: Setup): Promise<void> {
  const { rows } = await setup.db.pool.query<{ wal_capture: boolean; capture: string | null; triggers: number; slot_active: boolean | null }>(
    `SELECT (SELECT wal_capture FROM realtime.capture_state) AS wal_capture,
            (SELECT capture FROM realtime.subscriptions WHERE schema_name = 'public' AND relation_name = $1) AS capture,
            (SELECT count(*)::int FROM pg_catalog.pg_trigger WHERE tgrelid = to_regclass($2) AND NOT tgisinternal) AS triggers,
            (SELECT active FROM pg_catalog.pg_replication_slots WHERE slot_name = realtime.wal_slot_name()) AS slot_active`,
    [setup.table, `public.${pg.escapeIdentifier(setup.table)}`],
  );
  const state = rows[0];
  const expected = {
    wal: state?.wal_capture === true && state.capture === 'wal' && state.triggers === 0 && state.slot_active === true,
    trigger: state?.wal_capture === false && state.capture === 'notify' && state.triggers > 0,
    seed: state?.wal_capture === true && state.capture === 'notify' && state.triggers > 0,
  }[variant as 'wal' | 'trigger' | 'seed'];
  if (!expected) throw new Error(`${VARIANT_LABELS[variant]} does not run the capture path it stands for: ${JSON.stringify(state)}`);
}

/** In WAL mode the seed trigger writes no log row; its slot, read by no one, is moved to the end of the WAL so that it holds none. */
async function checkSeedRun(setup: Setup, problems: string[]): Promise<void> {
  const { rows } = await setup.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM realtime.changes');
  if (Number(rows[0]?.n) > 0) problems.push(`${VARIANT_LABELS.seed}: the trigger wrote ${rows[0]?.n} log rows in WAL mode`);
  await setup.db.pool.query('SELECT pg_catalog.pg_replication_slot_advance(realtime.wal_slot_name(), pg_catalog.pg_current_wal_lsn())');
}

/** Warnings and errors the servers logged, each distinct message once with its count. */
function serverLogWarnings(setups: Record<Variant, Setup>): string[] {
  const warnings: string[] = [];
  for (const variant of VARIANTS) {
    const logFile = setups[variant].server?.logFile;
    if (!logFile) continue;
    let text: string;
    try {
      text = readFileSync(logFile, 'utf8');
    } catch {
      continue;
    }
    const counts = new Map<string, number>();
    for (const line of text.split('\n')) {
      const entry = parseLogLine(line);
      if (!entry || (entry.level ?? 0) < 40) continue;
      const message = `${entry.level && entry.level >= 50 ? 'error' : 'warning'}: ${entry.msg ?? ''}${entry.err?.message ? ` (${entry.err.message})` : ''}`;
      counts.set(message, (counts.get(message) ?? 0) + 1);
    }
    for (const [message, count] of counts) warnings.push(`${VARIANT_LABELS[variant]} server, ${count}×: ${message}`);
  }
  return warnings;
}

/** One JSON line of a server log; undefined for anything else (a line cut short when a server was stopped). */
function parseLogLine(line: string): { level?: number; msg?: string; err?: { message?: string } } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
  } catch {
    return undefined;
  }
}
