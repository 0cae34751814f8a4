// B2: table changes delivered per second with no loss, nself (postgres_changes) against raw LISTEN on a bare pg_notify trigger, 8 writers flat out.
import { medianOf } from './lib/alternate.js';
import { CHANGE_SIDE_LABELS, insertFlatOut, startChangeRig, type ChangeSide } from './lib/cdc.js';
import { readOptions } from './lib/options.js';
import { fmt, publishResult, ratio, type Table, type TargetCheck } from './lib/report.js';
import { nowMs } from './lib/stats.js';

const options = readOptions('node --import tsx bench/b2-change-throughput.ts [options]', {
  writers: { fallback: 8, help: 'writer connections inserting as fast as they can', min: 1 },
  seconds: { fallback: 4, help: 'seconds of writing per run', min: 1 },
  subscribers: { fallback: 100, help: 'subscribers of the larger case (the smaller has 1)', min: 1 },
  body: { fallback: 200, help: 'bytes of text per row', min: 1 },
  sync: { fallback: 0, help: '1: writers commit with synchronous_commit on (flush to disk per commit)', min: 0 },
  workers: { fallback: 2, help: 'load-generator processes', min: 1 },
});

interface Run {
  /** Changes written per second. */
  readonly written: number;
  /** Distinct changes each subscriber received per second, from the first INSERT to the last delivery. */
  readonly delivered: number;
  readonly lagP99: number;
  readonly problems: number;
}

const started = Date.now();
const rig = await startChangeRig(options.workers, options.body);

try {
  const measured = await rig.measure('B2', [1, options.subscribers], options.reps, async (side, subscribers): Promise<Run> => {
    const table = rig.tableOf(side);
    if (side === 'raw') rig.listener.reset(options.writers);
    else await rig.clientsOf(side).reset(1, options.writers);
    const begun = nowMs();
    const { perWriter, elapsedMs } = await insertFlatOut(rig.url, table, options.writers, options.seconds * 1000, options.body, options.sync === 1);
    const total = perWriter.reduce((sum, count) => sum + count, 0);
    const lastSent = Object.fromEntries(perWriter.map((count, writer) => [`${rig.topic}:${writer}`, count]));
    if (side === 'raw') {
      await rig.listener.drain(total);
      const seconds = (nowMs() - begun) / 1000;
      const check = rig.listener.check.result((stream) => perWriter[Number(stream.split(':')[1])] ?? 0);
      const lag = [...rig.listener.latencies].sort((a, b) => a - b);
      return {
        written: total / (elapsedMs / 1000),
        delivered: (check.received - check.duplicates) / seconds,
        lagP99: lag[Math.floor(lag.length * 0.99)] ?? Number.NaN,
        problems: check.gaps + check.duplicates + check.missing,
      };
    }
    const clients = rig.clientsOf(side);
    await clients.drain(total * subscribers);
    const seconds = (nowMs() - begun) / 1000;
    const report = await clients.report(lastSent);
    return {
      written: total / (elapsedMs / 1000),
      delivered: (report.check.received - report.check.duplicates) / subscribers / seconds,
      lagP99: report.latency.p99,
      problems: report.check.gaps + report.check.duplicates + report.check.missing,
    };
  });

  const rateOf = (subscribers: number, side: ChangeSide) => medianOf(measured.find((entry) => entry.subscribers === subscribers)?.runs.get(side), (run) => run.delivered);
  const tables: Table[] = measured.map(({ subscribers, runs }) => ({
    title: `${subscribers} subscriber(s), ${options.writers} writers flat out for ${options.seconds} s, synchronous_commit ${options.sync === 1 ? 'on' : 'off'} (medians of ${options.reps})`,
    columns: ['side', 'written / s', 'delivered / s per subscriber', '÷ raw', 'lag p99 ms', 'gaps+dups+missing'],
    rows: (['raw', 'fanout', 'nself'] as ChangeSide[]).map((side) => {
      const label = CHANGE_SIDE_LABELS[side];
      const sideRuns = runs.get(side);
      if (!sideRuns) return [label, 'not supported by the server yet', '', '', '', ''];
      return [
        label,
        fmt(
          medianOf(sideRuns, (run) => run.written),
          0,
        ),
        fmt(
          medianOf(sideRuns, (run) => run.delivered),
          0,
        ),
        ratio(
          medianOf(sideRuns, (run) => run.delivered),
          rateOf(subscribers, 'raw'),
        ),
        fmt(
          medianOf(sideRuns, (run) => run.lagP99),
          1,
        ),
        sideRuns.reduce((sum, run) => sum + run.problems, 0),
      ];
    }),
  }));
  const many = options.subscribers;
  const supported = measured.every(({ support }) => support.supported);
  const check = (met: boolean) => (supported ? met : null);
  const shown = (text: string) => (supported ? text : 'not supported by the server yet');
  const targets: TargetCheck[] = [
    {
      target: '1 subscriber: ≥ 0.8× the raw NOTIFY and LISTEN rate',
      measured: shown(ratio(rateOf(1, 'nself'), rateOf(1, 'raw'))),
      met: check(rateOf(1, 'nself') >= 0.8 * rateOf(1, 'raw')),
    },
    { target: '1 subscriber: ≥ 5,000 changes/s', measured: shown(`${fmt(rateOf(1, 'nself'), 0)}/s`), met: check(rateOf(1, 'nself') >= 5000) },
    { target: `${many} subscribers: ≥ 1,000 changes/s each`, measured: shown(`${fmt(rateOf(many, 'nself'), 0)}/s`), met: check(rateOf(many, 'nself') >= 1000) },
  ];
  const problems = measured.flatMap(({ runs }) => [...runs.values()].flat()).reduce((sum, run) => sum + run.problems, 0);
  publishResult({
    id: 'B2',
    title: 'table changes delivered per second',
    date: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    options,
    tables,
    targets,
    deliveryProblems: problems,
    notes: [
      'Rates count distinct changes per subscriber from the first INSERT to the last delivery, so a subscriber that falls behind lowers its rate. Writers run in the benchmark process with `pg`, one row per transaction.',
      'When the writers, not the delivery, are the limit, both sides deliver what was written: the "written / s" column shows it.',
      "The fan-out baseline is a bare `ws` server that LISTENs itself (same bare trigger) and writes each notification, as a JSON text of the row's size, to every subscriber: fan-out on this machine with no capture, protocol or checks.",
      ...measured.filter(({ support }) => !support.supported).map(({ subscribers, support }) => `nself at ${subscribers} subscriber(s): ${support.reason}.`),
    ],
  });
} finally {
  await rig.close();
}
