// B11: GraphQL live queries pushed by change capture against the same queries re-run every second (Hasura's method): commit-to-client latency and CPU per change.
import pg from 'pg';
import { alternate, medianOf, sleep } from './lib/alternate.js';
import { baselineNote, createBaselineDatabase, readBaseline } from './lib/baseline.js';
import { ClusterCpu } from './lib/cluster-cpu.js';
import { createBenchDatabase, type BenchDatabase } from './lib/database.js';
import { GraphQLClients, LIVE_TABLE } from './lib/graphql-clients.js';
import { readOptions } from './lib/options.js';
import { gaugeIn, scrapeServer } from './lib/server-metrics.js';
import { fmt, publishResult, ratio, type TargetCheck } from './lib/report.js';
import { hasuraClaimsToken, startService } from './lib/services.js';
import { median, medianSummary, nowMs, type LatencySummary } from './lib/stats.js';

const options = readOptions('node --import tsx bench/b11-graphql-live.ts [options]', {
  queries: { fallback: 1000, help: 'live queries, one graphql-ws client each', min: 1 },
  shapes: { fallback: 100, help: 'distinct live queries among them (each the newest row of one shape)', min: 1 },
  rate: { fallback: 100, help: 'single-row INSERTs per second, the shapes in turn', min: 1 },
  seconds: { fallback: 10, help: 'seconds of writing per run', min: 1 },
  workers: { fallback: 2, help: 'load-generator processes', min: 1 },
});

type Side = 'changes' | 'poll' | 'baseline';
/** A built checkout of another version (BENCH_BASELINE) whose pushed live queries run as a third side, for a before/after comparison in one run. */
const BASELINE = readBaseline();
const SIDES: Side[] = BASELINE ? ['changes', 'baseline', 'poll'] : ['changes', 'poll'];
const SIDE_LABELS: Record<Side, string> = {
  changes: 'pushed by change capture (REALTIME_GRAPHQL_LIVE_QUERIES=changes)',
  poll: 're-run every second, Hasura-style (REALTIME_GRAPHQL_LIVE_QUERIES=poll)',
  baseline: `pushed, ${BASELINE?.label ?? 'baseline'} (REALTIME_GRAPHQL_LIVE_QUERIES=changes)`,
};
/** The role in the clients' Hasura claims. */
const ROLE = 'authenticated';

interface Run {
  readonly latency: LatencySummary;
  readonly written: number;
  readonly received: number;
  /** Live queries whose last result was not the newest row of their shape when the run ended. */
  readonly stale: number;
  /** CPU ms per INSERT: the server process, and the PostgreSQL backends serving it (its queries and change capture). */
  readonly serverCpuMsPerChange: number;
  readonly databaseCpuMsPerChange: number;
  readonly loadDelayP99Ms: number;
  /** Live-query runs per second of writing, as the server counted them. */
  readonly runsPerSecond: number;
}

const RUNS = 'realtime_graphql_live_query_runs_total';

const started = Date.now();
const id = pg.escapeIdentifier;
const db = await createBenchDatabase(2);
await createLiveTable(db);
const baselineDb = BASELINE ? await createBaselineDatabase(2) : undefined;
if (baselineDb) await createLiveTable(baselineDb);
/** Each side's database: the baseline's build installs its own schema in one of its own. */
const databaseOf = (side: Side): BenchDatabase => (side === 'baseline' && baselineDb ? baselineDb : db);
const cluster = await ClusterCpu.find(db.pool);
const clients = GraphQLClients.start(options.workers);
const token = await hasuraClaimsToken('bench-user', ROLE);
const shapes = Array.from({ length: options.queries }, (_, index) => index % options.shapes);

try {
  const runs = await alternate<Side, Run>(SIDES, options.reps, async (side) => {
    const sideDb = databaseOf(side);
    const service = await startService('nself', {
      databaseUrl: sideDb.url,
      env: { REALTIME_GRAPHQL_LIVE_QUERIES: side === 'poll' ? 'poll' : 'changes' },
      ...(side === 'baseline' && BASELINE ? { root: BASELINE.root } : {}),
    });
    try {
      const opened = await clients.open(`ws://127.0.0.1:${service.target.port}/v1/graphql`, token, shapes);
      if (opened.opened < options.queries) throw new Error(`${options.queries - opened.opened} live queries failed: ${opened.failures.join('; ')}`);
      await sleep(1_000);
      await clients.reset();
      const runsBefore = gaugeIn(await scrapeServer(service.target), RUNS);
      const cpuBefore = service.usage().cpu;
      const stopCluster = cluster?.start([sideDb.name]);
      const written = await insertPaced(sideDb.url, options.rate, options.seconds * 1000, options.shapes);
      const cpuAfter = service.usage().cpu;
      const database = await stopCluster?.();
      const runsPerSecond = (gaugeIn(await scrapeServer(service.target), RUNS) - runsBefore) / options.seconds;
      // Each INSERT changes the result of one shape's live queries.
      await clients.drain(written * (options.queries / options.shapes), 2_500);
      const { rows } = await sideDb.pool.query<{ shape: number; id: number }>(`SELECT shape, max(id) AS id FROM public.${id(LIVE_TABLE)} GROUP BY shape`);
      const report = await clients.report(Object.fromEntries(rows.map((row) => [row.shape, row.id])));
      if (report.errors.length > 0) throw new Error(`live queries failed: ${report.errors.join('; ')}`);
      return {
        latency: report.latency,
        written,
        received: report.received,
        stale: report.stale,
        serverCpuMsPerChange: ((cpuAfter - cpuBefore) * 1000) / written,
        databaseCpuMsPerChange: database ? ((database.otherBackends + database.walsenders) * 1000) / written : Number.NaN,
        loadDelayP99Ms: report.loadLoopDelayP99Ms,
        runsPerSecond,
      };
    } finally {
      await clients.closeAll();
      await service.stop();
    }
  });

  const perShape = options.queries / options.shapes;
  const rows = SIDES.map((side) => {
    const sideRuns = runs.get(side) ?? [];
    const latency = medianSummary(sideRuns.map((run) => run.latency));
    return [
      SIDE_LABELS[side],
      fmt(latency.p50, 1),
      fmt(latency.p99, 1),
      fmt(latency.max, 1),
      `${fmt(
        medianOf(sideRuns, (run) => run.received),
        0,
      )} / ${fmt(
        medianOf(sideRuns, (run) => run.written * perShape),
        0,
      )}`,
      fmt(
        medianOf(sideRuns, (run) => run.runsPerSecond),
        0,
      ),
      fmt(
        medianOf(sideRuns, (run) => run.serverCpuMsPerChange),
        2,
      ),
      fmt(
        medianOf(sideRuns, (run) => run.databaseCpuMsPerChange),
        2,
      ),
      fmt(median(sideRuns.map((run) => run.loadDelayP99Ms)), 1),
      sideRuns.reduce((sum, run) => sum + run.stale, 0),
    ];
  });
  const pushed = runs.get('changes');
  const polled = runs.get('poll');
  const pushedP99 = medianOf(pushed, (run) => run.latency.p99);
  const polledP50 = medianOf(polled, (run) => run.latency.p50);
  const pushedP50 = medianOf(pushed, (run) => run.latency.p50);
  const pushedCpu = medianOf(pushed, (run) => run.serverCpuMsPerChange);
  const polledCpu = medianOf(polled, (run) => run.serverCpuMsPerChange);
  const targets: TargetCheck[] = [
    { target: 'pushed: p99 commit to client ≤ 50 ms', measured: `${fmt(pushedP99, 1)} ms`, met: pushedP99 <= 50 },
    {
      target: 'pushed: p50 below the polled p50',
      measured: `${fmt(pushedP50, 1)} ms against ${fmt(polledP50, 1)} ms (${ratio(pushedP50, polledP50)})`,
      met: pushedP50 < polledP50,
    },
    {
      target: 'server CPU per change, pushed against polled (measured, no target)',
      measured: `${fmt(pushedCpu, 2)} ms against ${fmt(polledCpu, 2)} ms (${ratio(pushedCpu, polledCpu)})`,
      met: null,
    },
  ];
  const stale = [...runs.values()].flat().reduce((sum, run) => sum + run.stale, 0);
  publishResult({
    id: 'B11',
    title: 'GraphQL live queries: pushed by change capture against re-run every second',
    date: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    options,
    tables: [
      {
        title: `${options.queries} live queries (graphql-ws clients, one each) of ${options.shapes} distinct queries on one table, ${options.rate} INSERTs/s for ${options.seconds} s (medians of ${options.reps})`,
        columns: [
          'live queries',
          'p50 ms',
          'p99 ms',
          'max ms',
          'new rows received / written × clients of the shape',
          'live-query runs / s',
          'server CPU ms per change',
          'PostgreSQL CPU ms per change',
          'load processes: event-loop delay p99 ms',
          'stale at the end',
        ],
        rows,
      },
    ],
    targets,
    deliveryProblems: stale,
    notes: [
      `Each live query is \`${LIVE_TABLE}(where: {shape: {_eq: K}}, order_by: {id: desc}, limit: 1) { id sent_at }\` for one of ${options.shapes} shapes K (each its own query text), so ${perShape} clients share each; the clients are the \`graphql-ws\` library over WebSocket with a Hasura-claims JWT (role \`${ROLE}\`), spread over ${options.workers} load processes. The writer INSERTs one row at a time, the shapes in turn, with its clock in \`sent_at\`; latency runs from that moment to a client having the result that shows the row (the commit included).`,
      'Both sides are the same server (`nself realtime start`, one process pinned to the server CPU), started afresh for each run with REALTIME_GRAPHQL_LIVE_QUERIES set. Pushed: a live query re-runs when a change to its table that can affect its result commits (changes within 5 ms answered by one run), its subscribers share the run, and a result is sent only when it differs. Polled: every distinct live query re-runs once a second and sends only a changed result, as Hasura does (Hasura also merges queries that differ only in their variables into one SQL statement; these differ in their text, so it would not).',
      'A pushed live query runs again only on a change that can affect its result: the server tests the changed row against the query\'s `where` (here `shape = K`), so an INSERT re-runs the one distinct query of its shape, not all of them (docs/nhost.md, "Which changes re-run a live query"). With BENCH_BASELINE set, a third side runs the pushed live queries of the build at that path in the same alternation (for the before/after figures of a change). Polling runs each distinct query once a second whatever was written. So the pushed cost grows with the writes and the queries each write can affect, the polled cost with the distinct queries alone; the CPU columns give both for this workload. "Live-query runs / s" is the server\'s own count (`realtime_graphql_live_query_runs_total`) over the writing window: changes arriving while a query runs are answered by one more run, so under load the pushed side runs fewer than the writes it is affected by.',
      ...(BASELINE ? [baselineNote(BASELINE)] : []),
      'CPU per change is CPU time over the writing window divided by the INSERTs: the server process from /proc, and the PostgreSQL backends of the bench database (the server\'s queries and its change capture; the writer\'s own backend left out) sampled from /proc; "n/a" when PostgreSQL is not on this host.',
      'Polled clients miss rows: when two INSERTs of a shape fall within one poll, the client sees only the newer one, so "received" is below the rows written. "Stale at the end" counts live queries whose last result was not their shape\'s newest row once the run was drained (must be 0).',
    ],
  });
} finally {
  await clients.stop();
  await db.drop();
  await baselineDb?.drop();
}

/** The live queries' table with one row per shape (so every live query starts with a row), readable by the clients' role. */
async function createLiveTable({ pool }: BenchDatabase): Promise<void> {
  await pool.query(`CREATE TABLE public.${id(LIVE_TABLE)} (id serial PRIMARY KEY, shape int NOT NULL, sent_at double precision NOT NULL)`);
  await pool.query(`CREATE INDEX ON public.${id(LIVE_TABLE)} (shape, id DESC)`);
  await pool.query(`DO $$ BEGIN CREATE ROLE ${id(ROLE)} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
  await pool.query(`GRANT USAGE ON SCHEMA public TO ${id(ROLE)}`);
  await pool.query(`GRANT SELECT ON public.${id(LIVE_TABLE)} TO ${id(ROLE)}`);
  await pool.query(`INSERT INTO public.${id(LIVE_TABLE)} (shape, sent_at) SELECT n, 0 FROM generate_series(0, $1::int - 1) AS n`, [options.shapes]);
}

/** INSERTs one row every 1/rate s for `durationMs`, the shapes in turn, each with the writer's clock; resolves with the rows written. */
async function insertPaced(url: string, rate: number, durationMs: number, shapeCount: number): Promise<number> {
  // Named like pgbench so that the PostgreSQL CPU figures leave the writer's own backend out.
  const client = new pg.Client({ connectionString: url, application_name: 'pgbench' });
  await client.connect();
  const sql = `INSERT INTO public.${id(LIVE_TABLE)} (shape, sent_at) VALUES ($1, $2)`;
  const begun = nowMs();
  const limit = Math.round((rate * durationMs) / 1000);
  let written = 0;
  try {
    while (written < limit) {
      const due = Math.min(limit, Math.floor(((nowMs() - begun) * rate) / 1000));
      if (written >= due) {
        await sleep(1);
        continue;
      }
      await client.query(sql, [written % shapeCount, nowMs()]);
      written += 1;
    }
  } finally {
    await client.end();
  }
  return written;
}
