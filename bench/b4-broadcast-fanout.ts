// B4: broadcast fan-out, deliveries per server CPU-second and latency, nself against bare ws, Socket.IO rooms and nginx + nchan.
import { alternate, medianOf, sleep } from './lib/alternate.js';
import { baselineNote, createBaselineDatabase, readBaseline } from './lib/baseline.js';
import { createBenchDatabase } from './lib/database.js';
import { LoadClients } from './lib/load-clients.js';
import { readOptions } from './lib/options.js';
import { openPublisher, publishPaced } from './lib/publishers.js';
import { fmt, publishResult, ratio, type TargetCheck } from './lib/report.js';
import { nchanAvailable, SERVICE_LABELS, startService, type ServiceKind } from './lib/services.js';
import { formatBounds, histogramIn, observedBetween, scrapeServer, type ServerHistogram } from './lib/server-metrics.js';
import { median, type LatencySummary } from './lib/stats.js';

const options = readOptions('node --import tsx bench/b4-broadcast-fanout.ts [options]', {
  subscribers: { fallback: 500, help: 'subscribers on the channel', min: 1 },
  rate: { fallback: 100, help: 'messages published per second', min: 1 },
  payload: { fallback: 100, help: 'payload bytes', min: 40 },
  seconds: { fallback: 5, help: 'seconds of publishing per run', min: 1 },
  workers: { fallback: 2, help: 'load-generator processes', min: 1 },
});

/** The servers compared; 'baseline' is nself built in the BENCH_BASELINE checkout. */
type Side = ServiceKind | 'baseline';

interface Run {
  readonly deliveries: number;
  readonly cpu: number;
  readonly latency: LatencySummary;
  readonly problems: number;
  /** nself: from each broadcast's store statement to its delivery, as the server measured it. */
  readonly serverLatency: ServerHistogram | undefined;
  /** The load processes' event-loop delay p99 over the run, in ms. */
  readonly loadDelayP99Ms: number;
}

const SERVER_LATENCY = 'realtime_delivery_latency_seconds';

const started = Date.now();
const baseline = readBaseline();
const db = await createBenchDatabase();
const baselineDb = baseline ? await createBaselineDatabase() : undefined;
const clients = await LoadClients.start(options.workers);
const sides: Side[] = ['nself', ...(baseline ? ['baseline' as const] : []), 'ws', 'socketio', ...(nchanAvailable() ? ['nchan' as const] : [])];
const labelOf = (side: Side) => (side === 'baseline' ? (baseline?.label ?? side) : SERVICE_LABELS[side]);
const topic = 'fanout';
const nselfEnv = { REALTIME_MAX_MESSAGES_PER_SECOND: '1000000' };

/** One run: subscribers join, the publisher sends at `rate` for the set time, then deliveries are counted. */
async function measure(side: Side, rate: number): Promise<Run> {
  const kind = side === 'baseline' ? 'nself' : side;
  const service = await startService(kind, {
    databaseUrl: side === 'baseline' && baselineDb ? baselineDb.url : db.url,
    env: nselfEnv,
    ...(side === 'baseline' && baseline ? { root: baseline.root } : {}),
  });
  try {
    const opened = await clients.open(
      service.target,
      Array.from({ length: options.subscribers }, () => ({ topic })),
    );
    if (opened.failed > 0) throw new Error(`${opened.failed} subscribers could not join ${labelOf(side)}: ${opened.failures.join('; ')}`);
    const publisher = await openPublisher(service.target, [topic]);
    await sleep(300);
    await clients.reset(1);
    const storedBefore = kind === 'nself' ? histogramIn(await scrapeServer(service.target), SERVER_LATENCY) : undefined;
    const before = service.usage();
    const sent = await publishPaced(publisher, [topic], rate, options.seconds * 1000, options.payload);
    await clients.drain((sent[topic] ?? 0) * options.subscribers);
    const after = service.usage();
    const serverLatency = storedBefore ? observedBetween(storedBefore, histogramIn(await scrapeServer(service.target), SERVER_LATENCY)) : undefined;
    const report = await clients.report(sent);
    publisher.close();
    return {
      deliveries: report.check.received,
      cpu: after.cpu - before.cpu,
      latency: report.latency,
      problems: report.check.gaps + report.check.duplicates + report.check.missing,
      serverLatency,
      loadDelayP99Ms: report.loadLoopDelayP99Ms,
    };
  } finally {
    await clients.closeAll();
    await service.stop();
  }
}

/** The server's own p50 and p99 (bucket bounds) over runs. */
function serverBounds(runs: readonly Run[]): string {
  return formatBounds(runs.flatMap((run) => run.serverLatency ?? []));
}

try {
  const runs = await alternate(sides, options.reps, (side) => measure(side, options.rate));
  const perCpu = (side: Side) => medianOf(runs.get(side), (run) => run.deliveries / Math.max(run.cpu, 0.01));
  const ours = perCpu('nself');
  const maxRate = ours / options.subscribers;
  const halfRate = Math.max(1, Math.min(5000, Math.floor(maxRate / 2)));
  process.stderr.write(`  nself at half its CPU-bound maximum rate (${halfRate} msg/s)\n`);
  const half = await measure('nself', halfRate);
  const problems = [...runs.values()].flat().reduce((sum, run) => sum + run.problems, 0) + half.problems;
  const rows = sides.map((side) => {
    const sideRuns = runs.get(side);
    return [
      labelOf(side),
      fmt(
        medianOf(sideRuns, (run) => run.deliveries),
        0,
      ),
      fmt(
        medianOf(sideRuns, (run) => run.cpu),
        2,
      ),
      fmt(perCpu(side), 0),
      fmt(
        medianOf(sideRuns, (run) => run.latency.p50),
        2,
      ),
      fmt(
        medianOf(sideRuns, (run) => run.latency.p99),
        2,
      ),
      side === 'nself' ? '1.00×' : ratio(ours, perCpu(side)),
      side === 'nself' || side === 'baseline' ? serverBounds(sideRuns ?? []) : '–',
      fmt(median((sideRuns ?? []).map((run) => run.loadDelayP99Ms)), 1),
      sideRuns?.reduce((sum, run) => sum + run.problems, 0) ?? 0,
    ];
  });
  const targets: TargetCheck[] = [
    { target: 'deliveries per server CPU-second ≥ 0.75× bare ws', measured: ratio(ours, perCpu('ws')), met: ours >= 0.75 * perCpu('ws') },
    { target: '≥ 3× Socket.IO', measured: ratio(ours, perCpu('socketio')), met: ours >= 3 * perCpu('socketio') },
    nchanAvailable()
      ? { target: 'ahead of nginx + nchan', measured: ratio(ours, perCpu('nchan')), met: ours > perCpu('nchan') }
      : { target: 'ahead of nginx + nchan', measured: 'nginx with nchan not installed', met: null },
    { target: `p99 ≤ 25 ms at half the maximum rate (${halfRate} msg/s × ${options.subscribers})`, measured: `${fmt(half.latency.p99, 2)} ms`, met: half.latency.p99 <= 25 },
  ];
  publishResult({
    id: 'B4',
    title: 'broadcast fan-out per server CPU-second',
    date: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    options,
    targets,
    deliveryProblems: problems,
    tables: [
      {
        title: `${options.subscribers} subscribers on one channel, ${options.rate} msg/s of ${options.payload} bytes for ${options.seconds} s (medians of ${options.reps})`,
        columns: [
          'server',
          'deliveries',
          'server CPU s',
          'deliveries / CPU s',
          'p50 ms',
          'p99 ms',
          'nself ÷ this',
          'server: stored to delivered, p50 / p99 ≤ ms',
          'load processes: event-loop delay p99 ms',
          'gaps+dups+missing',
        ],
        rows,
      },
    ],
    notes: [
      "Server CPU is the server process only (for nginx: master and worker). nself also stores every broadcast in PostgreSQL (history on); the database's own CPU is not counted here.",
      `The maximum rate is the CPU-bound estimate (deliveries per CPU-second ÷ subscribers = ${fmt(maxRate, 0)} msg/s); the half-rate run measured p50 ${fmt(half.latency.p50, 2)} ms, p99 ${fmt(half.latency.p99, 2)} ms (the server: ${serverBounds([half])} from store to delivery).`,
      ...(baseline ? [`${baselineNote(baseline)} The half-rate run is this checkout's alone.`] : []),
      '"Server: stored to delivered" is what the server measured (`realtime_delivery_latency_seconds`, from the statement that stores a broadcast to its frames written to every subscriber, the commit included; over all repetitions, each figure the upper bound of its histogram bucket); the rest of the latency is the kernel and the load processes, whose event-loop delay (p99 over the run) shows how late they were to read what arrived.',
    ],
  });
} finally {
  await clients.stop();
  await db.drop();
  await baselineDb?.drop();
}
