// B5: memory per idle joined connection and connect-and-join rate, nself against a bare `ws` server holding the same sockets.
import { alternate, medianOf, sleep } from './lib/alternate.js';
import { createBenchDatabase } from './lib/database.js';
import { LoadClients } from './lib/load-clients.js';
import { readOptions } from './lib/options.js';
import { openFileLimits } from './lib/processes.js';
import { fmt, publishResult, ratio, type TargetCheck } from './lib/report.js';
import { SERVICE_LABELS, startService } from './lib/services.js';

const options = readOptions('node --import tsx bench/b5-connections.ts [options]', {
  connections: { fallback: 2000, help: 'connections, each joined to one channel', min: 1 },
  channels: { fallback: 10, help: 'channels the connections are spread over', min: 1 },
  idle: { fallback: 5, help: 'seconds the connections stay idle before memory is read', min: 1 },
  warmup: { fallback: 1000, help: 'connections opened and closed before the measurement, so that both servers run warm code', min: 0 },
  concurrency: { fallback: 100, help: 'connections being opened at once per load process', min: 1 },
  workers: { fallback: 2, help: 'load-generator processes', min: 1 },
});

type Side = 'nself' | 'ws';
interface Run {
  readonly bytesPerConnection: number;
  readonly joinsPerSecond: number;
  readonly joinP99: number;
  /** Server CPU seconds per connect-and-join during the burst. */
  readonly cpuPerJoin: number;
  /** Share of one core used while idle. */
  readonly idleCpu: number;
  readonly rssMb: number;
  readonly failed: number;
}

const started = Date.now();
const db = await createBenchDatabase();
// Every socket is a file on both ends; a margin covers the servers' own files and database connections.
const OPEN_FILES_MARGIN = 256;
const openFiles = options.connections + OPEN_FILES_MARGIN;
const { hard: openFilesAllowed } = openFileLimits();
if (openFiles > openFilesAllowed) {
  process.stderr.write(
    `B5 with ${options.connections} connections needs ${openFiles} open files per process, above this machine's hard limit of ${openFilesAllowed} (ulimit -Hn): use --connections ${openFilesAllowed - OPEN_FILES_MARGIN} or fewer, or raise the limit as root.\n`,
  );
  process.exit(2);
}
const clients = await LoadClients.start(options.workers, openFiles);
const specs = Array.from({ length: options.connections }, (_, index) => ({ topic: `idle-${index % options.channels}` }));

try {
  const runs = await alternate<Side, Run>(['nself', 'ws'], options.reps, async (side) => {
    const service = await startService(side, { databaseUrl: db.url, env: { REALTIME_MAX_JOINS_PER_SECOND: '1000000' }, openFiles });
    try {
      if (options.warmup > 0) {
        await clients.open(service.target, specs.slice(0, options.warmup), options.concurrency);
        await clients.closeAll();
      }
      await sleep(1000);
      const before = service.usage();
      const opened = await clients.open(service.target, specs, options.concurrency);
      if (opened.failed > 0) process.stderr.write(`  ${opened.failed} connections failed: ${opened.failures.join('; ')}\n`);
      const joined = service.usage();
      await sleep(options.idle * 1000);
      const after = service.usage();
      return {
        bytesPerConnection: (after.rss - before.rss) / Math.max(1, opened.opened),
        joinsPerSecond: opened.opened / (opened.elapsedMs / 1000),
        joinP99: opened.join.p99,
        cpuPerJoin: (joined.cpu - before.cpu) / Math.max(1, opened.opened),
        idleCpu: (after.cpu - joined.cpu) / options.idle,
        rssMb: after.rss / 1048576,
        failed: opened.failed,
      };
    } finally {
      await clients.closeAll();
      await service.stop();
    }
  });
  const perConnection = (side: Side) => medianOf(runs.get(side), (run) => run.bytesPerConnection);
  const joinRate = medianOf(runs.get('nself'), (run) => run.joinsPerSecond);
  const targets: TargetCheck[] = [
    { target: '≤ 8 KB per idle joined connection', measured: `${fmt(perConnection('nself') / 1024, 1)} KB`, met: perConnection('nself') <= 8192 },
    { target: '≤ 1.6× bare ws per connection', measured: ratio(perConnection('nself'), perConnection('ws')), met: perConnection('nself') <= 1.6 * perConnection('ws') },
    { target: '≥ 2,000 connect-and-join per second', measured: `${fmt(joinRate, 0)}/s`, met: joinRate >= 2000 },
  ];
  publishResult({
    id: 'B5',
    title: 'memory per idle joined connection, connect-and-join rate',
    date: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    options,
    targets,
    deliveryProblems: 0,
    tables: [
      {
        title: `${options.connections} connections over ${options.channels} channels, idle ${options.idle} s (medians of ${options.reps})`,
        columns: ['server', 'RSS MB', 'KB per connection', 'connect+join / s', 'join p99 ms', 'server CPU µs per connect+join', 'idle CPU % of a core', 'failed'],
        rows: (['nself', 'ws'] as Side[]).map((side) => {
          const sideRuns = runs.get(side);
          return [
            SERVICE_LABELS[side],
            fmt(
              medianOf(sideRuns, (run) => run.rssMb),
              1,
            ),
            fmt(perConnection(side) / 1024, 2),
            fmt(
              medianOf(sideRuns, (run) => run.joinsPerSecond),
              0,
            ),
            fmt(
              medianOf(sideRuns, (run) => run.joinP99),
              1,
            ),
            fmt(1e6 * medianOf(sideRuns, (run) => run.cpuPerJoin), 0),
            fmt(100 * medianOf(sideRuns, (run) => run.idleCpu), 1),
            sideRuns?.reduce((sum, run) => sum + run.failed, 0) ?? 0,
          ];
        }),
      },
    ],
    notes: [
      "Memory per connection is the growth of the server's RSS from before the first connection to after the idle period, divided by the connections.",
      `Before each measurement the server accepts ${options.warmup} connections that join and leave, so both sides run warm (compiled) code and the channels exist.`,
      "Server CPU per connect+join is the server process's CPU time (user and system) during the burst divided by the connections.",
      'A nself connection is a WebSocket upgrade with a verified JWT, a row in realtime.connections, and a phx_join of a public channel; a bare ws connection is the upgrade alone.',
      'The per-connection join rate limit is raised for this run only because the load generator opens connections faster than any one client would.',
    ],
  });
} finally {
  await clients.stop();
  await db.drop();
}
