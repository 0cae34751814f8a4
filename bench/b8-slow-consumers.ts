// B8: slow-consumer isolation: healthy clients' latency and server memory when some clients stop reading, nself against a naive bare `ws` broadcast.
import { alternate, medianOf, sleep } from './lib/alternate.js';
import { createBenchDatabase } from './lib/database.js';
import { LoadClients } from './lib/load-clients.js';
import { readOptions } from './lib/options.js';
import { openPublisher, publishPaced } from './lib/publishers.js';
import { fmt, publishResult, ratio, type TargetCheck } from './lib/report.js';
import { SERVICE_LABELS, startService, type ServiceKind } from './lib/services.js';
import type { LatencySummary } from './lib/stats.js';

const options = readOptions('node --import tsx bench/b8-slow-consumers.ts [options]', {
  subscribers: { fallback: 200, help: 'subscribers on the channel', min: 2 },
  slow: { fallback: 10, help: 'subscribers that stop reading', min: 1 },
  rate: { fallback: 200, help: 'messages published per second', min: 1 },
  payload: { fallback: 1000, help: 'payload bytes', min: 40 },
  seconds: { fallback: 8, help: 'seconds of publishing per run', min: 1 },
  cap: { fallback: 0, help: 'nself send-buffer cap per socket in bytes (0: as shipped, REALTIME_MAX_SEND_BUFFER_BYTES default)', min: 0 },
  workers: { fallback: 2, help: 'load-generator processes', min: 1 },
});

type Side = 'nself control' | 'nself slow' | 'ws control' | 'ws slow';
interface Run {
  readonly latency: LatencySummary;
  readonly rssGrowthMb: number;
  readonly closedSlow: number;
  readonly closedHealthy: number;
  readonly problems: number;
}

const started = Date.now();
const db = await createBenchDatabase();
const clients = await LoadClients.start(options.workers);
const topic = 'firehose';
const slowPerWorker = Math.ceil(options.slow / options.workers);
const slowCount = slowPerWorker * options.workers;
const env = { REALTIME_MAX_MESSAGES_PER_SECOND: '1000000', ...(options.cap > 0 ? { REALTIME_MAX_SEND_BUFFER_BYTES: String(options.cap) } : {}) };

try {
  const runs = await alternate<Side, Run>(['nself control', 'nself slow', 'ws control', 'ws slow'], options.reps, async (side) => {
    const kind: ServiceKind = side.startsWith('nself') ? 'nself' : 'ws';
    const slow = side.endsWith('slow');
    const service = await startService(kind, { databaseUrl: db.url, env });
    try {
      const opened = await clients.open(
        service.target,
        Array.from({ length: options.subscribers }, () => ({ topic })),
      );
      if (opened.failed > 0) throw new Error(`${opened.failed} subscribers could not join: ${opened.failures.join('; ')}`);
      const publisher = await openPublisher(service.target, [topic]);
      if (slow) await clients.pause(slowPerWorker);
      await sleep(300);
      await clients.reset(1);
      const baseline = service.usage().rss;
      let peak = baseline;
      const sampler = setInterval(() => {
        peak = Math.max(peak, service.usage().rss);
      }, 200);
      const sent = await publishPaced(publisher, [topic], options.rate, options.seconds * 1000, options.payload);
      await clients.drain((sent[topic] ?? 0) * (options.subscribers - (slow ? slowCount : 0)));
      clearInterval(sampler);
      peak = Math.max(peak, service.usage().rss);
      const report = await clients.report(sent);
      publisher.close();
      return {
        latency: report.latency,
        rssGrowthMb: (peak - baseline) / 1048576,
        closedSlow: report.closedPaused,
        closedHealthy: report.closedHealthy,
        problems: report.check.gaps + report.check.duplicates + report.check.missing,
      };
    } finally {
      await clients.closeAll();
      await service.stop();
    }
  });
  const p99 = (side: Side) => medianOf(runs.get(side), (run) => run.latency.p99);
  const growth = (side: Side) => medianOf(runs.get(side), (run) => run.rssGrowthMb);
  const capMb = (options.cap > 0 ? options.cap : 4_194_304) / 1048576;
  const bound = capMb * slowCount;
  const targets: TargetCheck[] = [
    {
      target: `healthy clients' p99 with ${slowCount} stopped readers ≤ 1.25× control`,
      measured: ratio(p99('nself slow'), p99('nself control')),
      met: p99('nself slow') <= 1.25 * p99('nself control'),
    },
    {
      target: `server memory growth bounded (≤ send-buffer cap × stopped readers = ${fmt(bound, 0)} MB)`,
      measured: `${fmt(growth('nself slow'), 1)} MB (naive ws: ${fmt(growth('ws slow'), 1)} MB)`,
      met: growth('nself slow') <= bound,
    },
  ];
  const problems = [...runs.values()].flat().reduce((sum, run) => sum + run.problems, 0);
  publishResult({
    id: 'B8',
    title: 'slow-consumer isolation',
    date: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    options,
    targets,
    deliveryProblems: problems,
    tables: [
      {
        title: `${options.subscribers} subscribers, ${options.rate} msg/s of ${options.payload} bytes for ${options.seconds} s; "slow": ${slowCount} of them stop reading (medians of ${options.reps})`,
        columns: ['run', 'healthy p50 ms', 'healthy p99 ms', 'p99 ÷ control', 'RSS growth MB', 'stopped readers closed', 'healthy closed', 'gaps+dups+missing (healthy)'],
        rows: (['nself control', 'nself slow', 'ws control', 'ws slow'] as Side[]).map((side) => {
          const sideRuns = runs.get(side);
          const control: Side = side.startsWith('nself') ? 'nself control' : 'ws control';
          return [
            `${SERVICE_LABELS[side.startsWith('nself') ? 'nself' : 'ws']}, ${side.endsWith('slow') ? 'with stopped readers' : 'control'}`,
            fmt(
              medianOf(sideRuns, (run) => run.latency.p50),
              2,
            ),
            fmt(p99(side), 2),
            ratio(p99(side), p99(control)),
            fmt(growth(side), 1),
            fmt(
              medianOf(sideRuns, (run) => run.closedSlow),
              0,
            ),
            fmt(
              medianOf(sideRuns, (run) => run.closedHealthy),
              0,
            ),
            sideRuns?.reduce((sum, run) => sum + run.problems, 0) ?? 0,
          ];
        }),
      },
    ],
    notes: [
      "A stopped reader pauses its socket: the kernel buffers on both ends fill first (several MB on loopback), then the server's own send buffer grows.",
      `nself closes a socket whose buffered bytes pass the cap (${fmt(capMb, 1)} MB); at ${fmt((options.rate * options.payload) / 1024, 0)} KB/s per reader that takes longer than a short run, so "stopped readers closed" stays 0 unless the run is long (--seconds 40) or the cap is lowered (--cap).`,
      "The naive bare ws server writes every frame to every socket whatever it has buffered: its memory grows with the stopped readers' backlog and is never released until they disconnect.",
    ],
  });
} finally {
  await clients.stop();
  await db.drop();
}
