// B9: one server process against several worker processes on one port (as shipped, broadcast notifications carrying the messages, signed; and with that off, every worker reading each message back): the most deliveries per second each keeps under a delivery p99 bound, for fan-out (B4's shape) and for stored broadcasts over many channels (B7's).
import { availableParallelism } from 'node:os';
import { alternate, sleep } from './lib/alternate.js';
import { createBenchDatabase } from './lib/database.js';
import { LoadClients } from './lib/load-clients.js';
import { readOptions } from './lib/options.js';
import { CPU, machineBusySeconds } from './lib/processes.js';
import { openPublisher, publishPaced, type Publisher } from './lib/publishers.js';
import { fmt, publishResult, ratio, type TargetCheck } from './lib/report.js';
import { bucketBound, gaugeIn, histogramIn, observedBetween, scrapeServer } from './lib/server-metrics.js';
import { startService, type Target } from './lib/services.js';
import { median, nowMs } from './lib/stats.js';

const options = readOptions('node --import tsx bench/b9-workers.ts [options]', {
  many: { fallback: Math.max(2, availableParallelism()), help: 'worker processes of the larger side (the other runs 1)', min: 2 },
  bound: { fallback: 100, help: 'delivery p99 bound in ms: a rate step counts only when its p99 stays under it', min: 1 },
  steps: { fallback: 10, help: 'rate steps at most per case (each one --growth percent above the last)', min: 1 },
  growth: { fallback: 60, help: 'percent by which each rate step exceeds the last', min: 1 },
  seconds: { fallback: 3, help: 'seconds of publishing per rate step', min: 1 },
  subscribers: { fallback: 300, help: 'fan-out: subscribers on the one channel', min: 1 },
  rate: { fallback: 20, help: 'fan-out: messages per second of the first step', min: 1 },
  channels: { fallback: 20, help: 'stored: channels', min: 1 },
  listeners: { fallback: 10, help: 'stored: subscribers per channel', min: 1 },
  stored: { fallback: 200, help: 'stored: messages per second of the first step, over all channels', min: 1 },
  publishers: { fallback: 4, help: 'stored: publisher connections (the channels are shared out among them)', min: 1 },
  payload: { fallback: 100, help: 'payload bytes', min: 40 },
  workers: { fallback: 2, help: 'load-generator processes', min: 1 },
});

/** 1 worker; several as shipped (other workers deliver from the sealed notification, no read-back); several with REALTIME_BROADCAST_NOTIFY_PAYLOADS off (each reads every message back). */
type Side = 'one' | 'many' | 'readBack';
const SIDES: readonly Side[] = ['one', 'many', 'readBack'];
type CaseName = 'fan-out' | 'stored';

/** One workload: who subscribes to what, who publishes, and the first rate of its ladder. */
interface Case {
  readonly name: CaseName;
  readonly title: string;
  readonly topics: readonly string[];
  readonly perTopic: number;
  readonly publishers: number;
  readonly firstRate: number;
}

/** One rate step of a climb. */
interface Step {
  readonly rate: number;
  readonly deliveriesPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  /** Server CPU seconds (primary and workers) per second of publishing: cores in use. */
  readonly cores: number;
  readonly cpuPerDeliveryUs: number;
  /** The machine's busy CPU seconds per second of the step: server, PostgreSQL and load processes together. */
  readonly machineCores: number;
  readonly loadDelayP99Ms: number;
  /** The server's own measure, from the statement that stores a broadcast to its frames written: the upper bounds of the buckets holding the p50 and the p99, in ms. */
  readonly serverP50Ms: number;
  readonly serverP99Ms: number;
  readonly problems: number;
}

const CASES: readonly Case[] = [
  {
    name: 'fan-out',
    title: `fan-out: ${options.subscribers} subscribers on one channel`,
    topics: ['fanout'],
    perTopic: options.subscribers,
    publishers: 1,
    firstRate: options.rate,
  },
  {
    name: 'stored',
    title: `stored broadcasts: ${options.channels} channels × ${options.listeners} subscribers, ${options.publishers} publisher connections`,
    topics: Array.from({ length: options.channels }, (_, index) => `stored${index}`),
    perTopic: options.listeners,
    publishers: options.publishers,
    firstRate: options.stored,
  },
];
const SERVER_LATENCY = 'realtime_delivery_latency_seconds';
const WORKERS: Record<Side, number> = { one: 1, many: options.many, readBack: options.many };
const LABELS: Record<Side, string> = { one: '1 worker', many: `${options.many} workers`, readBack: `${options.many} workers, messages read back` };
const SIDE_ENV: Record<Side, Record<string, string>> = { one: {}, many: {}, readBack: { REALTIME_BROADCAST_NOTIFY_PAYLOADS: 'off' } };
/** What one side's whole run cost the broadcast feeds: reads of channel logs, and broadcasts taken from notifications instead. */
interface FeedWork {
  readonly logReads: number;
  readonly carried: number;
  readonly delivered: number;
}

const started = Date.now();
const db = await createBenchDatabase();
const clients = await LoadClients.start(options.workers);
const nselfEnv = { REALTIME_MAX_MESSAGES_PER_SECOND: '1000000', REALTIME_MAX_JOINS_PER_SECOND: '1000000' };

/** The rate of step `index`: `growth` percent over the last, rounded up to a whole number per channel so every channel gets as many messages. */
function rateOf(kase: Case, index: number): number {
  const raw = kase.firstRate * (1 + options.growth / 100) ** index;
  const perSecond = kase.topics.length / gcd(kase.topics.length, options.seconds);
  return Math.ceil(raw / perSecond) * perSecond;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Publishers for `kase`, each its own connection (so that they land on different workers) with its share of the channels. */
async function openPublishers(target: Target, kase: Case): Promise<Publisher> {
  const shares = Array.from({ length: Math.min(kase.publishers, kase.topics.length) }, (_, index) => kase.topics.filter((_, topic) => topic % kase.publishers === index));
  const publishers = await Promise.all(shares.map((share) => openPublisher(target, share)));
  const byTopic = new Map(shares.flatMap((share, index) => share.map((topic) => [topic, publishers[index]] as const)));
  return {
    publish: (topic, json) => byTopic.get(topic)?.publish(topic, json),
    close: () => publishers.forEach((publisher) => publisher.close()),
  };
}

/** A climb goes on past a step over the bound (a tail on a shared machine can come and go) and stops once a step's p99 exceeds the bound this many times over. */
const GIVE_UP_FACTOR = 5;
/** …or once it delivers less than this share of what was published per second: the server (or the load generator) fell behind. */
const FALLING_BEHIND = 0.8;

/** Climbs the rate ladder of `kase` on a running server until it falls behind, its p99 is far over the bound, or a message is lost. */
async function climb(target: Target, usage: () => { cpu: number }, kase: Case): Promise<Step[]> {
  const opened = await clients.open(
    target,
    kase.topics.flatMap((topic) => Array.from({ length: kase.perTopic }, () => ({ topic }))),
  );
  if (opened.failed > 0) throw new Error(`${opened.failed} subscribers could not join: ${opened.failures.join('; ')}`);
  const publisher = await openPublishers(target, kase);
  const steps: Step[] = [];
  try {
    await sleep(300);
    const sent: Record<string, number> = {};
    for (let index = 0; index < options.steps; index += 1) {
      const rate = rateOf(kase, index);
      await clients.reset((sent[kase.topics[0] ?? ''] ?? 0) + 1);
      const storedBefore = histogramIn(await scrapeServer(target), SERVER_LATENCY);
      const before = usage().cpu;
      const machineBefore = machineBusySeconds();
      const begun = nowMs();
      await publishPaced(publisher, kase.topics, rate, options.seconds * 1000, options.payload, sent);
      await clients.drain(rate * options.seconds * kase.perTopic, 1_500, 30_000);
      // From the first publish to the last delivery: a server that falls behind delivers fewer per second than were published.
      const seconds = (nowMs() - begun) / 1000;
      const cpu = usage().cpu - before;
      const server = observedBetween(storedBefore, histogramIn(await scrapeServer(target), SERVER_LATENCY));
      const report = await clients.report(sent);
      const step: Step = {
        rate,
        deliveriesPerSecond: report.check.received / seconds,
        p50: report.latency.p50,
        p99: report.latency.p99,
        cores: cpu / seconds,
        cpuPerDeliveryUs: (cpu / Math.max(1, report.check.received)) * 1e6,
        machineCores: (machineBusySeconds() - machineBefore) / seconds,
        loadDelayP99Ms: report.loadLoopDelayP99Ms,
        serverP50Ms: bucketBound(server, 0.5) * 1000,
        serverP99Ms: bucketBound(server, 0.99) * 1000,
        problems: report.check.gaps + report.check.duplicates + report.check.missing,
      };
      steps.push(step);
      process.stderr.write(
        `    ${kase.name} ${rate} msg/s: ${fmt(step.deliveriesPerSecond, 0)} deliveries/s, p99 ${fmt(step.p99, 1)} ms (server ≤ ${fmt(step.serverP99Ms, 0)} ms), ${fmt(step.cores, 2)} cores, machine ${fmt(step.machineCores, 2)} of ${availableParallelism()}\n`,
      );
      if (step.problems > 0 || step.p99 > options.bound * GIVE_UP_FACTOR || step.deliveriesPerSecond < FALLING_BEHIND * rate * kase.perTopic) break;
    }
  } finally {
    publisher.close();
    await clients.closeAll();
  }
  return steps;
}

/** The step with the most deliveries per second whose p99 stayed under the bound with nothing lost (undefined: none did). */
function best(steps: readonly Step[]): Step | undefined {
  return steps.filter((step) => step.p99 <= options.bound && step.problems === 0).sort((a, b) => b.deliveriesPerSecond - a.deliveriesPerSecond)[0];
}

try {
  const feedWork = new Map<Side, FeedWork[]>();
  const runs = await alternate<Side, Map<CaseName, Step[]>>(SIDES, options.reps, async (side) => {
    const service = await startService('nself', { databaseUrl: db.url, env: { ...nselfEnv, ...SIDE_ENV[side] }, workers: WORKERS[side], cpus: CPU.all });
    try {
      const climbs = new Map<CaseName, Step[]>();
      for (const kase of CASES) climbs.set(kase.name, await climb(service.target, () => service.usage(), kase));
      const scrape = await scrapeServer(service.target);
      feedWork.set(side, [
        ...(feedWork.get(side) ?? []),
        {
          logReads: gaugeIn(scrape, 'realtime_broadcast_log_reads_total'),
          carried: gaugeIn(scrape, 'realtime_broadcasts_carried_total'),
          delivered: gaugeIn(scrape, 'realtime_messages_out_total{kind="broadcast"}'),
        },
      ]);
      return climbs;
    } finally {
      await service.stop();
    }
  });
  const bestOf = (side: Side, name: CaseName) => (runs.get(side) ?? []).map((climbs) => best(climbs.get(name) ?? []));
  const capacity = (side: Side, name: CaseName) => median(bestOf(side, name).map((step) => step?.deliveriesPerSecond ?? 0));
  const atBest = (side: Side, name: CaseName, pick: (step: Step) => number) => median(bestOf(side, name).flatMap((step) => (step ? [pick(step)] : [])));
  const peaks = (side: Side, name: CaseName) =>
    (runs.get(side) ?? []).flatMap((climbs) => [...(climbs.get(name) ?? [])].sort((a, b) => b.deliveriesPerSecond - a.deliveriesPerSecond).slice(0, 1));
  const peak = (side: Side, name: CaseName) =>
    `${fmt(median(peaks(side, name).map((step) => step.deliveriesPerSecond)), 0)} (p99 ${fmt(median(peaks(side, name).map((step) => step.p99)), 0)} ms)`;
  const ladder = (side: Side, name: CaseName) =>
    (runs.get(side) ?? []).map((climbs) => (climbs.get(name) ?? []).map((step) => `${step.rate}:${fmt(step.p99, 0)}${step.problems > 0 ? '!' : ''}`).join(' ')).join(' | ');
  const problems = [...runs.values()].flat().reduce((sum, climbs) => sum + [...climbs.values()].flat().reduce((total, step) => total + step.problems, 0), 0);
  const tables = CASES.map((kase) => ({
    title: `${kase.title}; rates from ${kase.firstRate} msg/s up ${options.growth} % a step, ${options.seconds} s each, bound p99 ≤ ${options.bound} ms (medians of ${options.reps})`,
    columns: [
      'server',
      'rate of the best step under the bound, msg/s (repetitions that had one)',
      'deliveries / s (a repetition with no step under the bound counts 0)',
      '÷ 1 worker',
      'p50 / p99 ms there',
      'server cores in use there',
      'server CPU µs per delivery there',
      'load processes: event-loop delay p99 ms',
      `machine's cores busy there (of ${availableParallelism()})`,
      'most deliveries / s of any step, whatever its p99',
      'ladder per repetition (msg/s:p99 ms)',
    ],
    rows: SIDES.map((side) => [
      LABELS[side],
      fmt(
        atBest(side, kase.name, (step) => step.rate),
        0,
      ),
      fmt(capacity(side, kase.name), 0),
      ratio(capacity(side, kase.name), capacity('one', kase.name)),
      `${fmt(
        atBest(side, kase.name, (step) => step.p50),
        1,
      )} / ${fmt(
        atBest(side, kase.name, (step) => step.p99),
        1,
      )}`,
      fmt(
        atBest(side, kase.name, (step) => step.cores),
        2,
      ),
      fmt(
        atBest(side, kase.name, (step) => step.cpuPerDeliveryUs),
        1,
      ),
      fmt(
        atBest(side, kase.name, (step) => step.loadDelayP99Ms),
        1,
      ),
      fmt(
        atBest(side, kase.name, (step) => step.machineCores),
        2,
      ),
      peak(side, kase.name),
      ladder(side, kase.name),
    ]),
  }));
  const stepsAt = (side: Side, name: CaseName, rate: number) => (runs.get(side) ?? []).flatMap((climbs) => (climbs.get(name) ?? []).filter((step) => step.rate === rate));
  const curveCells = (side: Side, name: CaseName, rate: number) => {
    const steps = stepsAt(side, name, rate);
    if (steps.length === 0) return ['–', '–', '–'];
    const at = (pick: (step: Step) => number, digits: number) => fmt(median(steps.map(pick)), digits);
    return [
      at((step) => step.deliveriesPerSecond, 0),
      `${at((step) => step.p99, 0)} (≤ ${at((step) => step.serverP99Ms, 0)})`,
      `${at((step) => step.cpuPerDeliveryUs, 1)} (${at((step) => step.cores, 2)})`,
    ];
  };
  const curves = CASES.map((kase) => ({
    title: `${kase.name}, every rate step side by side (medians over the repetitions that reached it)`,
    columns: [
      'published',
      ...SIDES.flatMap((side) => [`${LABELS[side]}: deliveries / s`, `${LABELS[side]}: p99 ms (server's own ≤ ms)`, `${LABELS[side]}: server CPU µs per delivery (cores)`]),
    ],
    rows: Array.from({ length: options.steps }, (_, index) => rateOf(kase, index))
      .filter((rate) => SIDES.some((side) => stepsAt(side, kase.name, rate).length > 0))
      .map((rate) => [`${rate} msg/s`, ...SIDES.flatMap((side) => curveCells(side, kase.name, rate))]),
  }));
  const workOf = (side: Side, pick: (work: FeedWork) => number) => fmt(median((feedWork.get(side) ?? []).map(pick)), 0);
  const feedTable = {
    title: `broadcast feeds over a side's whole run, both cases (medians of ${options.reps})`,
    columns: [
      'server',
      'reads of channel logs (realtime_broadcast_log_reads_total)',
      'broadcasts taken from notifications (realtime_broadcasts_carried_total)',
      'broadcast deliveries',
    ],
    rows: SIDES.map((side) => [LABELS[side], workOf(side, (work) => work.logReads), workOf(side, (work) => work.carried), workOf(side, (work) => work.delivered)]),
  };
  const targets: TargetCheck[] = CASES.flatMap((kase) =>
    (['many', 'readBack'] as const).map((side) => ({
      target: `${kase.name}: ${LABELS[side]} ≥ 1.6× the deliveries per second of 1 worker, delivery p99 ≤ ${options.bound} ms`,
      measured: ratio(capacity(side, kase.name), capacity('one', kase.name)),
      met: capacity('one', kase.name) > 0 ? capacity(side, kase.name) >= 1.6 * capacity('one', kase.name) : null,
    })),
  );
  publishResult({
    id: 'B9',
    title: 'worker processes: deliveries per second under a latency bound, 1 worker against several',
    date: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    options,
    targets,
    deliveryProblems: problems,
    tables: [...tables, ...curves, feedTable],
    notes: [
      `Method: each side is one \`nself realtime start\` with REALTIME_WORKERS=1 or ${options.many} (as shipped, each broadcast's notification carries it, signed (the channels are public), so the other workers deliver it without reading it back; the third side with REALTIME_BROADCAST_NOTIFY_PAYLOADS=off, where each worker reads every message back from the log), the sides started in turn. On each, every case climbs a ladder of publish rates (paced, numbered, timestamped broadcasts; history on, so every broadcast is stored before it is delivered). A step's deliveries per second count from its first publish to its last delivery, so a server that falls behind scores what it delivered, not what was sent; its p99 is publish to receipt over every delivery of the step. The climb stops once a step delivers under ${FALLING_BEHIND * 100} % of what was published, has a p99 over ${GIVE_UP_FACTOR}× the bound, or loses a message. A side's figure is its step with the most deliveries per second whose p99 stayed ≤ ${options.bound} ms with nothing lost (median over repetitions); the ratio compares those, the same latency bound on both sides. The ladder column shows each repetition's steps as rate:p99, "!" marking a step with gaps, duplicates or missing messages.`,
      `Placement: the server (primary and workers) may run on every core (taskset ${CPU.all}) on both sides; the load processes are pinned to CPU ${CPU.load} and PostgreSQL floats (BENCH_WORKERS_CPUS and BENCH_LOAD_CPUS set these on a larger machine). On a 2-core machine the load generator and PostgreSQL share the cores the workers use, so the ratio here is a floor: "server cores in use" shows how much CPU the server got, and "server CPU µs per delivery" what a delivery costs it, which is what sets the rate on a machine with cores to spare.`,
      "Server CPU counts the primary process and every worker (its children), read from /proc; PostgreSQL is not counted. The server's own latency is `realtime_delivery_latency_seconds` of the whole server (from the statement that stores a broadcast to its frames written; the upper bound of the histogram bucket holding the p99): the rest of the client's p99 is the kernel and the load processes.",
      'Per-connection message and join limits are raised for this run only, so that a few publisher connections can carry the load.',
    ],
  });
} finally {
  await clients.stop();
  await db.drop();
}
