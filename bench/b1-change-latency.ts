// B1: commit-to-client latency of table changes through nself (postgres_changes over WebSocket) against a raw LISTEN on a bare pg_notify trigger.
import { medianOf } from './lib/alternate.js';
import { CHANGE_SIDE_LABELS, insertPaced, startChangeRig, type ChangeSide } from './lib/cdc.js';
import { readOptions } from './lib/options.js';
import { fmt, publishResult, type Table, type TargetCheck } from './lib/report.js';
import { formatBounds, histogramIn, observedBetween, scrapeServer, type ServerHistogram } from './lib/server-metrics.js';
import { median, medianSummary, summarize, type LatencySummary } from './lib/stats.js';

const options = readOptions('node --import tsx bench/b1-change-latency.ts [options]', {
  rate: { fallback: 500, help: 'single-row INSERTs per second (one writer)', min: 1 },
  seconds: { fallback: 4, help: 'seconds of writing per run', min: 1 },
  subscribers: { fallback: 100, help: 'subscribers of the larger case (the smaller has 1)', min: 1 },
  body: { fallback: 200, help: 'bytes of text per row', min: 1 },
  workers: { fallback: 2, help: 'load-generator processes', min: 1 },
});

interface Run {
  readonly latency: LatencySummary;
  readonly delivered: number;
  readonly expected: number;
  readonly problems: number;
  /** nself: from each change to its frames written, as the server measured it. */
  readonly serverLatency?: ServerHistogram;
  /** Sides with load processes: their event-loop delay p99 over the run, in ms. */
  readonly loadDelayP99Ms?: number;
}

const SERVER_LATENCY = 'realtime_change_delivery_latency_seconds';

const started = Date.now();
const rig = await startChangeRig(options.workers, options.body);

try {
  const measured = await rig.measure('B1', [1, options.subscribers], options.reps, async (side, subscribers): Promise<Run> => {
    if (side === 'raw') {
      rig.listener.reset();
      const written = await insertPaced(rig.url, rig.tableOf(side), options.rate, options.seconds * 1000, options.body);
      await rig.listener.drain(written);
      const check = rig.listener.check.result(() => written);
      return { latency: summarize(rig.listener.latencies), delivered: check.received, expected: written, problems: check.gaps + check.duplicates + check.missing };
    }
    const clients = rig.clientsOf(side);
    await clients.reset(1);
    const before = side === 'nself' ? histogramIn(await scrapeServer(rig.nself), SERVER_LATENCY) : undefined;
    const written = await insertPaced(rig.url, rig.tableOf(side), options.rate, options.seconds * 1000, options.body);
    await clients.drain(written * subscribers);
    const serverLatency = before ? observedBetween(before, histogramIn(await scrapeServer(rig.nself), SERVER_LATENCY)) : undefined;
    const report = await clients.report({ [rig.topic]: written });
    return {
      latency: report.latency,
      delivered: report.check.received,
      expected: written * subscribers,
      problems: report.check.gaps + report.check.duplicates + report.check.missing,
      loadDelayP99Ms: report.loadLoopDelayP99Ms,
      ...(serverLatency ? { serverLatency } : {}),
    };
  });

  const tables: Table[] = measured.map(({ subscribers, runs }) => ({
    title: `${subscribers} subscriber(s), ${options.rate} INSERTs/s of ~${options.body} bytes for ${options.seconds} s (medians of ${options.reps})`,
    columns: [
      'side',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'max ms',
      'delivered / expected',
      'server: change to frames written, p50 / p99 ≤ ms',
      'load processes: event-loop delay p99 ms',
      'gaps+dups+missing',
    ],
    rows: (['raw', 'fanout', 'nself'] as ChangeSide[]).map((side) => {
      const label = CHANGE_SIDE_LABELS[side];
      const sideRuns = runs.get(side);
      if (!sideRuns) return [label, 'not supported by the server yet', '', '', '', '', '', '', ''];
      const latency = medianSummary(sideRuns.map((run) => run.latency));
      const server = sideRuns.flatMap((run) => run.serverLatency ?? []);
      const loadDelays = sideRuns.flatMap((run) => run.loadDelayP99Ms ?? []);
      return [
        label,
        fmt(latency.p50, 2),
        fmt(latency.p95, 2),
        fmt(latency.p99, 2),
        fmt(latency.max, 2),
        `${fmt(
          medianOf(sideRuns, (run) => run.delivered),
          0,
        )} / ${fmt(
          medianOf(sideRuns, (run) => run.expected),
          0,
        )}`,
        server.length > 0 ? formatBounds(server) : '–',
        loadDelays.length > 0 ? fmt(median(loadDelays), 1) : '–',
        sideRuns.reduce((sum, run) => sum + run.problems, 0),
      ];
    }),
  }));
  const largest = measured.at(-1);
  const ours = largest?.runs.get('nself');
  const raw = largest?.runs.get('raw');
  const oursP50 = medianOf(ours, (run) => run.latency.p50);
  const oursP99 = medianOf(ours, (run) => run.latency.p99);
  const rawP50 = medianOf(raw, (run) => run.latency.p50);
  const fanout = largest?.runs.get('fanout');
  const unmeasured = largest?.support.supported ? undefined : 'not supported by the server yet';
  const targets: TargetCheck[] = [
    { target: `p50 ≤ 2 ms at ${largest?.subscribers} subscribers`, measured: unmeasured ?? `${fmt(oursP50, 2)} ms`, met: unmeasured ? null : oursP50 <= 2 },
    { target: `p99 ≤ 10 ms at ${largest?.subscribers} subscribers`, measured: unmeasured ?? `${fmt(oursP99, 2)} ms`, met: unmeasured ? null : oursP99 <= 10 },
    {
      target: 'p50 at most 1 ms above raw LISTEN',
      measured: unmeasured ?? `+${fmt(oursP50 - rawP50, 2)} ms (raw ${fmt(rawP50, 2)} ms)`,
      met: unmeasured ? null : oursP50 - rawP50 <= 1,
    },
  ];
  const problems = measured.flatMap(({ runs }) => [...runs.values()].flat()).reduce((sum, run) => sum + run.problems, 0);
  publishResult({
    id: 'B1',
    title: 'commit-to-client latency of table changes',
    date: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    options,
    tables,
    targets,
    deliveryProblems: problems,
    notes: [
      'Latency runs from the moment the writer sends the INSERT (its time is in the row) to the moment a subscriber has the change: it includes the commit.',
      '"Server: change to frames written" is what the server measured (`realtime_change_delivery_latency_seconds`, from the change\'s clock time in the writing transaction to its frames written to the sockets; over all repetitions, each figure the upper bound of its histogram bucket); the rest of the latency is the kernel and the load processes, whose event-loop delay (p99 over the run) shows how late they were to read what arrived.',
      'The baseline is one `pg` client on LISTEN, fed by an AFTER INSERT trigger that only calls pg_notify with the row number and time; it does not fan out.',
      "The fan-out baseline is a bare `ws` server on the server core that LISTENs itself (same trigger) and writes each notification, as a JSON text of the row's size, to every subscriber as one pre-serialised frame: fan-out on this machine with no capture, protocol or checks.",
      `At ${largest?.subscribers} subscribers the fan-out baseline measured p50 ${fmt(
        medianOf(fanout, (run) => run.latency.p50),
        2,
      )} ms and p99 ${fmt(
        medianOf(fanout, (run) => run.latency.p99),
        2,
      )} ms: the latency this machine gives ${largest?.subscribers} × ${options.rate} deliveries/s before any work of ours.`,
      ...measured.filter(({ support }) => !support.supported).map(({ subscribers, support }) => `nself at ${subscribers} subscriber(s): ${support.reason}.`),
    ],
  });
} finally {
  await rig.close();
}
