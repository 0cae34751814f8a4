// B6: presence under churn: presence_diff latency at every member and presence_state time for joiners, against a bare `ws` broadcast of diff-sized messages.
import { alternate, medianOf, sleep } from './lib/alternate.js';
import { createBenchDatabase } from './lib/database.js';
import { LoadClients } from './lib/load-clients.js';
import { readOptions } from './lib/options.js';
import { PhoenixSocket } from './lib/phoenix.js';
import { numbered, openPublisher } from './lib/publishers.js';
import { fmt, publishResult, ratio, type TargetCheck } from './lib/report.js';
import { nselfToken, SERVICE_LABELS, startService, type Target } from './lib/services.js';
import { medianSummary, nowMs, summarize, type LatencySummary } from './lib/stats.js';
import { nselfUrl } from './lib/subscriber-clients.js';

const options = readOptions('node --import tsx bench/b6-presence.ts [options]', {
  members: { fallback: 300, help: 'members tracked in the channel', min: 1 },
  churn: { fallback: 10, help: 'joins (and as many leaves) per second', min: 1 },
  seconds: { fallback: 5, help: 'seconds of churn per run', min: 1 },
  workers: { fallback: 2, help: 'load-generator processes', min: 1 },
});

type Side = 'nself' | 'ws';
interface Run {
  readonly diff: LatencySummary;
  /** nself: from sending the join to receiving presence_state. */
  readonly state: LatencySummary;
  readonly cpuPerDiffMs: number;
  readonly problems: number;
}

/** A diff of one join as nself sends it is about this long; the bare ws side sends messages of this size. */
const DIFF_BYTES = 190;
const topic = 'lobby';
const started = Date.now();
const db = await createBenchDatabase();
const clients = await LoadClients.start(options.workers);

/** nself churn: every 1/churn s a new member joins and tracks {s, t}; the oldest churned member leaves. */
async function churnNself(target: Target, count: number): Promise<number[]> {
  const stateTimes: number[] = [];
  const live: PhoenixSocket[] = [];
  const interval = 1000 / options.churn;
  const begun = nowMs();
  await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      await sleep(Math.max(0, begun + index * interval - nowMs()));
      const seq = index + 1;
      const socket = await PhoenixSocket.connect(nselfUrl(target, await nselfToken(`churn-${seq}`)));
      const joinSent = nowMs();
      const gotState = new Promise<void>((resolve) => {
        socket.onFrame = (frame) => {
          if (frame[3] === 'presence_state') {
            stateTimes.push(nowMs() - joinSent);
            resolve();
          }
        };
      });
      await socket.join(`realtime:${topic}`, { config: { presence: { enabled: true, key: `churn-${seq}` } } });
      await gotState;
      await socket.call(`realtime:${topic}`, 'presence', { type: 'presence', event: 'track', payload: { s: seq, t: nowMs() } });
      live.push(socket);
      if (live.length > 1) live.shift()?.close();
    }),
  );
  for (const socket of live) socket.close();
  return stateTimes;
}

try {
  const runs = await alternate<Side, Run>(['nself', 'ws'], options.reps, async (side) => {
    const service = await startService(side, { databaseUrl: db.url });
    try {
      const specs = await Promise.all(
        Array.from({ length: options.members }, async (_, index) =>
          side === 'nself'
            ? { topic, token: await nselfToken(`member-${index}`), config: { presence: { enabled: true, key: `member-${index}` } }, track: { status: 'online' } }
            : { topic },
        ),
      );
      const opened = await clients.open(service.target, specs);
      if (opened.failed > 0) throw new Error(`${opened.failed} members could not join: ${opened.failures.join('; ')}`);
      await sleep(1000);
      // Joins of different members may commit in either order when their tracks overlap: each must arrive once.
      await clients.reset(1, 1, side === 'ws');
      const count = options.churn * options.seconds;
      const before = service.usage();
      let stateTimes: number[] = [];
      if (side === 'nself') {
        stateTimes = await churnNself(service.target, count);
      } else {
        const publisher = await openPublisher(service.target, [topic]);
        const padding = 'x'.repeat(DIFF_BYTES - 40);
        for (let seq = 1; seq <= count; seq += 1) {
          publisher.publish(topic, numbered(seq, padding));
          await sleep(1000 / options.churn);
        }
        publisher.close();
      }
      await clients.drain(count * options.members);
      const after = service.usage();
      const report = await clients.report({ [topic]: count });
      return {
        diff: report.latency,
        state: summarize(stateTimes),
        cpuPerDiffMs: (1000 * (after.cpu - before.cpu)) / count,
        problems: report.check.gaps + report.check.duplicates + report.check.missing,
      };
    } finally {
      await clients.closeAll();
      await service.stop();
    }
  });
  const diffOf = (side: Side) => medianSummary((runs.get(side) ?? []).map((run) => run.diff));
  const ours = diffOf('nself');
  const state = medianSummary((runs.get('nself') ?? []).map((run) => run.state));
  const targets: TargetCheck[] = [
    { target: `presence_diff p99 ≤ 50 ms with ${options.members} members`, measured: `${fmt(ours.p99, 1)} ms`, met: ours.p99 <= 50 },
    { target: `presence_state for a joiner p99 ≤ 20 ms with ${options.members} members`, measured: `${fmt(state.p99, 1)} ms`, met: state.p99 <= 20 },
  ];
  const problems = [...runs.values()].flat().reduce((sum, run) => sum + run.problems, 0);
  publishResult({
    id: 'B6',
    title: 'presence under churn',
    date: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    options,
    targets,
    deliveryProblems: problems,
    tables: [
      {
        title: `${options.members} members in one channel, ${options.churn} joins and ${options.churn} leaves per second for ${options.seconds} s (medians of ${options.reps})`,
        columns: ['server', 'diff p50 ms', 'diff p95 ms', 'diff p99 ms', 'p99 ÷ bare ws', 'presence_state p99 ms', 'server CPU ms per diff', 'gaps+dups+missing'],
        rows: (['nself', 'ws'] as Side[]).map((side) => {
          const diff = diffOf(side);
          return [
            SERVICE_LABELS[side],
            fmt(diff.p50, 2),
            fmt(diff.p95, 2),
            fmt(diff.p99, 2),
            ratio(diff.p99, diffOf('ws').p99),
            side === 'nself' ? fmt(state.p99, 2) : 'n/a',
            fmt(
              medianOf(runs.get(side), (run) => run.cpuPerDiffMs),
              2,
            ),
            runs.get(side)?.reduce((sum, run) => sum + run.problems, 0) ?? 0,
          ];
        }),
      },
    ],
    notes: [
      "Diff latency runs from the joiner's track (its time is in the tracked metadata) to each member's presence_diff; every member must see every join exactly once (in order on the bare ws side; joins of different members whose tracks overlap may commit in either order).",
      `The bare ws side broadcasts a ${DIFF_BYTES}-byte message to the same sockets at the same rate: the cost of the fan-out alone, with no presence bookkeeping or database.`,
      'nself presence goes through PostgreSQL (a row per session, a NOTIFY from its trigger), so several server processes share one presence.',
    ],
  });
} finally {
  await clients.stop();
  await db.drop();
}
