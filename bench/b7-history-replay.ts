// B7: stored broadcasts per second, and many clients rejoining at once with replay from their last offset, against raw pg doing the same INSERT+NOTIFY and SELECTs.
import pg from 'pg';
import { alternate, medianOf, sleep } from './lib/alternate.js';
import { baselineNote, createBaselineDatabase, readBaseline } from './lib/baseline.js';
import { createBenchDatabase } from './lib/database.js';
import { LoadClients } from './lib/load-clients.js';
import { readOptions } from './lib/options.js';
import { PhoenixSocket } from './lib/phoenix.js';
import { numbered, openPublisher, publishPaced } from './lib/publishers.js';
import { fmt, publishResult, ratio, type TargetCheck } from './lib/report.js';
import { bucketBound, combined, gaugeIn, histogramIn, meanOf, observedBetween, scrapeServer, type ServerHistogram } from './lib/server-metrics.js';
import { startService, type Target } from './lib/services.js';
import { median, medianSummary, nowMs, summarize, type LatencySummary } from './lib/stats.js';
import { nselfUrl } from './lib/subscriber-clients.js';

const options = readOptions('node --import tsx bench/b7-history-replay.ts [options]', {
  publishers: { fallback: 8, help: 'concurrent publishers (connections) storing broadcasts', min: 1 },
  window: { fallback: 32, help: 'broadcasts each publisher has in flight (awaiting the stored ack)', min: 1 },
  seconds: { fallback: 3, help: 'seconds of storing as fast as possible per run', min: 1 },
  clients: { fallback: 300, help: 'clients that drop and rejoin with replay (10 per channel)', min: 10 },
  rate: { fallback: 200, help: 'live broadcasts per second over the channels during the replay phase', min: 1 },
  spread: { fallback: 1000, help: 'ms over which the clients rejoin evenly in a second replay phase (0: only the rejoin at once)', min: 0 },
  workers: { fallback: 2, help: 'load-generator processes', min: 1 },
});

/** 'baseline' is nself built in the BENCH_BASELINE checkout, measured as the 'nself' side is. */
type Side = 'nself' | 'baseline' | 'ws' | 'raw';
type NselfSide = 'nself' | 'baseline';

/** One replay phase of the nself side: the clients drop, miss broadcasts, and rejoin with resume. */
interface Rejoin {
  readonly replay: LatencySummary;
  /** The part of each replay until the client's new WebSocket was open. */
  readonly connect: LatencySummary;
  /** The rejoins' time from phx_join arriving to its reply, as the server measured it. */
  readonly serverJoins: ServerHistogram;
  /** The server's event-loop delay over the phase, p99 and max, in ms. */
  readonly serverLoopDelay: { readonly p99: number; readonly max: number };
  /** The load processes' event-loop delay p99 over the phase (how late they were to read what arrived). */
  readonly loadDelayP99Ms: number;
  readonly problems: number;
}

interface Run {
  readonly stored: number;
  /** nself: clients rejoining at once, then spread over `--spread` ms. */
  readonly rejoins: readonly Rejoin[];
  /** Bare ws: the same clients only connecting, at once, then spread over `--spread` ms. */
  readonly connects: readonly LatencySummary[];
  /** Raw pg: the replay SELECTs. */
  readonly rawReplay: LatencySummary | undefined;
}

const started = Date.now();
const baseline = readBaseline();
const db = await createBenchDatabase(25);
const baselineDb = baseline ? await createBaselineDatabase(1) : undefined;
const clients = await LoadClients.start(options.workers);
const topics = Array.from({ length: Math.max(1, Math.floor(options.clients / 10)) }, (_, index) => `replay${index}`);
const nselfEnv = { REALTIME_MAX_MESSAGES_PER_SECOND: '1000000', REALTIME_MAX_JOINS_PER_SECOND: '1000000' };
/** Offsets each channel had when the clients dropped, kept for the raw SELECT side. */
let dropOffsets: Record<string, number> = {};
const body = 'x'.repeat(60);
await db.pool.query('CREATE TABLE public.bench_messages (id bigserial PRIMARY KEY, topic text NOT NULL, payload jsonb NOT NULL, inserted_at timestamptz NOT NULL DEFAULT now())');

/** Stored broadcasts per second: publishers each keep `window` acknowledged broadcasts in flight. */
async function storeAsFastAsPossible(target: Target): Promise<number> {
  const sockets = await Promise.all(
    Array.from({ length: options.publishers }, async (_, index) => {
      const socket = await PhoenixSocket.connect(nselfUrl(target));
      await socket.join(`realtime:store${index}`, { config: { broadcast: { ack: true, self: false } } });
      return socket;
    }),
  );
  let stored = 0;
  const begun = nowMs();
  const end = begun + options.seconds * 1000;
  await Promise.all(
    sockets.flatMap((socket, index) =>
      Array.from({ length: options.window }, async () => {
        while (nowMs() < end) {
          await socket.call(`realtime:store${index}`, 'broadcast', { type: 'broadcast', event: 'm', payload: JSON.parse(numbered(stored + 1, body)) as object });
          stored += 1;
        }
      }),
    ),
  );
  const rate = stored / ((nowMs() - begun) / 1000);
  for (const socket of sockets) socket.close();
  return rate;
}

/** Raw pg: the same number of connections each running INSERT + pg_notify in one statement, one after another. */
async function rawStore(): Promise<number> {
  const pool = new pg.Pool({ connectionString: db.url, max: options.publishers });
  let stored = 0;
  const begun = nowMs();
  const end = begun + options.seconds * 1000;
  await Promise.all(
    Array.from({ length: options.publishers }, async (_, index) => {
      while (nowMs() < end) {
        await pool.query(`WITH m AS (INSERT INTO public.bench_messages (topic, payload) VALUES ($1, $2) RETURNING id) SELECT pg_notify('bench_messages', m.id::text) FROM m`, [
          `store${index}`,
          numbered(stored + 1, body),
        ]);
        stored += 1;
      }
    }),
  );
  const rate = stored / ((nowMs() - begun) / 1000);
  await pool.end();
  return rate;
}

/** Clients drop; broadcasts go on; all rejoin (at once, or evenly over `spreadMs`) resuming from their last offsets while live broadcasts continue. */
async function dropAndReplay(target: Target, spreadMs: number): Promise<Rejoin> {
  const opened = await clients.open(
    target,
    Array.from({ length: options.clients }, (_, index) => ({ topic: topics[index % topics.length] ?? '' })),
  );
  if (opened.failed > 0) throw new Error(`${opened.failed} clients could not join: ${opened.failures.join('; ')}`);
  const publisher = await openPublisher(target, topics);
  await clients.reset(1);
  const sent = await publishPaced(publisher, topics, options.rate, 1500, 100);
  await clients.drain(topics.reduce((sum, topic) => sum + (sent[topic] ?? 0), 0) * 10);
  await clients.drop();
  dropOffsets = { ...sent };
  await publishPaced(publisher, topics, options.rate, 1000, 100, sent);
  const until = { ...sent };
  const joinsBefore = histogramIn(await scrapeServer(target), JOIN_HISTOGRAM, 'history="read"');
  const [resumed] = await Promise.all([clients.resume(until, spreadMs), publishPaced(publisher, topics, options.rate, 1500 + spreadMs, 100, sent)]);
  if (resumed.failed > 0) throw new Error(`${resumed.failed} clients could not rejoin: ${resumed.failures.join('; ')}`);
  await clients.drain(Number.POSITIVE_INFINITY);
  const scrape = await scrapeServer(target);
  const serverJoins = observedBetween(joinsBefore, histogramIn(scrape, JOIN_HISTOGRAM, 'history="read"'));
  const serverLoopDelay = { p99: gaugeIn(scrape, `${LOOP_LAG}_p99_seconds`) * 1000, max: gaugeIn(scrape, `${LOOP_LAG}_max_seconds`) * 1000 };
  const report = await clients.report(sent);
  publisher.close();
  await clients.closeAll();
  return {
    replay: report.replay,
    connect: report.replayConnect,
    serverJoins,
    serverLoopDelay,
    loadDelayP99Ms: report.loadLoopDelayP99Ms,
    problems: report.check.gaps + report.check.duplicates + report.check.missing,
  };
}

const JOIN_HISTOGRAM = 'realtime_join_duration_seconds';
const LOOP_LAG = 'realtime_process_nodejs_eventloop_lag';

/** Bare ws: the rejoin's connects alone (no join, no replay), at once and spread as the nself clients do them: this machine's floor. */
async function bareConnects(): Promise<LatencySummary[]> {
  const service = await startService('ws', { databaseUrl: db.url });
  try {
    const specs = Array.from({ length: options.clients }, (_, index) => ({ topic: topics[index % topics.length] ?? '' }));
    const connects: LatencySummary[] = [];
    for (const spreadMs of options.spread > 0 ? [0, options.spread] : [0]) {
      const opened = await clients.open(service.target, specs, options.clients, spreadMs);
      if (opened.failed > 0) throw new Error(`${opened.failed} bare ws clients could not connect: ${opened.failures.join('; ')}`);
      connects.push(opened.join);
      await clients.closeAll();
      await sleep(500);
    }
    return connects;
  } finally {
    await service.stop();
  }
}

/** Raw pg: the replay SELECT of every client at once, through a pool the size of the server's. */
async function rawReplay(): Promise<LatencySummary> {
  const pool = new pg.Pool({ connectionString: db.url, max: 20 });
  const { rows } = await pool.query<{ id: string; slug: string }>('SELECT id, slug FROM realtime.channels WHERE slug = ANY($1)', [topics]);
  const ids = new Map(rows.map((row) => [row.slug, row.id]));
  const times = await Promise.all(
    Array.from({ length: options.clients }, async (_, index) => {
      const topic = topics[index % topics.length] ?? '';
      const begun = nowMs();
      await pool.query('SELECT id, event_type, payload, channel_offset FROM realtime.messages WHERE channel_id = $1 AND channel_offset > $2 ORDER BY channel_offset LIMIT 25', [
        ids.get(topic),
        dropOffsets[topic] ?? 0,
      ]);
      return nowMs() - begun;
    }),
  );
  await pool.end();
  return summarize(times);
}

try {
  const sides: Side[] = ['nself', ...(baseline ? ['baseline' as const] : []), 'ws', 'raw'];
  const runs = await alternate<Side, Run>(sides, options.reps, async (side) => {
    if (side === 'raw') return { stored: await rawStore(), rejoins: [], connects: [], rawReplay: await rawReplay() };
    if (side === 'ws') return { stored: Number.NaN, rejoins: [], connects: await bareConnects(), rawReplay: undefined };
    const service = await startService('nself', {
      databaseUrl: side === 'baseline' && baselineDb ? baselineDb.url : db.url,
      env: nselfEnv,
      ...(side === 'baseline' && baseline ? { root: baseline.root } : {}),
    });
    try {
      const stored = await storeAsFastAsPossible(service.target);
      await sleep(500);
      const rejoins = [await dropAndReplay(service.target, 0)];
      if (options.spread > 0) rejoins.push(await dropAndReplay(service.target, options.spread));
      return { stored, rejoins, connects: [], rawReplay: undefined };
    } finally {
      await service.stop();
    }
  });
  const stored = (side: Side) => medianOf(runs.get(side), (run) => run.stored);
  const nselfSides: NselfSide[] = baseline ? ['nself', 'baseline'] : ['nself'];
  const phases = options.spread > 0 ? [0, 1] : [0];
  const phase = (index: number, side: NselfSide = 'nself') => (runs.get(side) ?? []).flatMap((run) => run.rejoins[index] ?? []);
  const replayOf = (index: number, side: NselfSide = 'nself') => medianSummary(phase(index, side).map((rejoin) => rejoin.replay));
  const rawReplaySummary = medianSummary((runs.get('raw') ?? []).flatMap((run) => run.rawReplay ?? []));
  const bareRow = (index: number) => {
    const connect = medianSummary((runs.get('ws') ?? []).flatMap((run) => run.connects[index] ?? []));
    return [
      `bare ws: the same clients only connecting${index === 0 ? ' at once' : `, evenly within ${fmt(options.spread / 1000, 1)} s`}`,
      '–',
      '–',
      '–',
      '–',
      '–',
      `${fmt(connect.p50, 1)} / ${fmt(connect.p99, 1)}`,
      '–',
      '–',
      '–',
      0,
    ];
  };
  const spreadLabel = `rejoining evenly within ${fmt(options.spread / 1000, 1)} s`;
  const problemsOf = (side: NselfSide) => (runs.get(side) ?? []).reduce((sum, run) => sum + run.rejoins.reduce((total, rejoin) => total + rejoin.problems, 0), 0);
  const problems = nselfSides.reduce((sum, side) => sum + problemsOf(side), 0);
  const targets: TargetCheck[] = [
    { target: '≥ 5,000 stored broadcasts/s', measured: `${fmt(stored('nself'), 0)}/s`, met: stored('nself') >= 5000 },
    { target: 'stored broadcasts ≥ 0.8× raw INSERT + NOTIFY', measured: ratio(stored('nself'), stored('raw')), met: stored('nself') >= 0.8 * stored('raw') },
    { target: `${options.clients} clients rejoining at once with replay: p99 ≤ 200 ms`, measured: `${fmt(replayOf(0).p99, 1)} ms`, met: replayOf(0).p99 <= 200 },
    ...(options.spread > 0
      ? [{ target: `${options.clients} clients ${spreadLabel} (PERFORMANCE-ANCHORS' B7): p99 ≤ 200 ms`, measured: `${fmt(replayOf(1).p99, 1)} ms`, met: replayOf(1).p99 <= 200 }]
      : []),
    { target: 'no gap or duplicate across the replay/live seam', measured: `${problemsOf('nself')}`, met: problemsOf('nself') === 0 },
  ];
  const nselfRow = (index: number, side: NselfSide) => {
    const connect = medianSummary(phase(index, side).map((rejoin) => rejoin.connect));
    const joins = phase(index, side).map((rejoin) => rejoin.serverJoins);
    const replay = replayOf(index, side);
    const name = side === 'baseline' ? (baseline?.label ?? side) : 'nself';
    return [
      index === 0 ? `${name} (broadcast with ack; rejoin at once with resume)` : `${name}, ${spreadLabel}`,
      index === 0 ? fmt(stored(side), 0) : '–',
      index === 0 ? ratio(stored(side), stored('raw')) : '–',
      fmt(replay.p50, 1),
      fmt(replay.p99, 1),
      fmt(replay.max, 1),
      `${fmt(connect.p50, 1)} / ${fmt(connect.p99, 1)}`,
      `${fmt(meanOf(combined(joins)) * 1000, 1)} / ≤ ${fmt(bucketBound(combined(joins), 0.99) * 1000, 0)}`,
      `${fmt(median(phase(index, side).map((rejoin) => rejoin.serverLoopDelay.p99)), 0)} / ${fmt(median(phase(index, side).map((rejoin) => rejoin.serverLoopDelay.max)), 0)}`,
      fmt(median(phase(index, side).map((rejoin) => rejoin.loadDelayP99Ms)), 1),
      phase(index, side).reduce((sum, rejoin) => sum + rejoin.problems, 0),
    ];
  };
  publishResult({
    id: 'B7',
    title: 'stored broadcasts and replay on rejoin',
    date: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    options,
    targets,
    deliveryProblems: problems,
    tables: [
      {
        title: `storing: ${options.publishers} publishers × ${options.window} in flight for ${options.seconds} s; replay: ${options.clients} clients in ${topics.length} channels (medians of ${options.reps})`,
        columns: [
          'side',
          'stored / s',
          '÷ raw',
          'replay p50 ms',
          'replay p99 ms',
          'replay max ms',
          'of it, connect p50 / p99 ms',
          'server: join to reply, mean / p99 ms',
          'server: event-loop delay p99 / max ms',
          'load processes: event-loop delay p99 ms',
          'gaps+dups+missing',
        ],
        rows: [
          ...phases.flatMap((index) => [...nselfSides.map((side) => nselfRow(index, side)), bareRow(index)]),
          [
            'raw pg (INSERT + pg_notify; replay SELECT … LIMIT 25)',
            fmt(stored('raw'), 0),
            '1.00×',
            fmt(rawReplaySummary.p50, 1),
            fmt(rawReplaySummary.p99, 1),
            fmt(rawReplaySummary.max, 1),
            '–',
            '–',
            '–',
            '–',
            0,
          ],
        ],
      },
    ],
    notes: [
      `Storing: each nself publisher keeps ${options.window} broadcasts with ack in flight, as a client streaming messages does; the server stores the broadcasts of a channel that arrive while its previous write is in flight together, in one statement and transaction (group commit), and acknowledges each after the commit. Each raw connection runs one INSERT … RETURNING with pg_notify per message and transaction (a connection has one statement in flight).`,
      `Replay: the clients read ${options.rate} broadcasts/s for 1.5 s, drop, miss 1 s of broadcasts, then all rejoin at once with config.broadcast.resume.offset while broadcasts go on${options.spread > 0 ? `; in a second phase they do the same, rejoining evenly over ${options.spread} ms (each replay timed from its own rejoin)` : ''}. A replay is complete when the client has the last message sent before it rejoined; every client must then have every message once and in order. "Of it, connect" is the part until the client's new WebSocket was open, before its join was sent; "server: join to reply" is the time from a rejoin's phx_join to its reply as the server measured it (\`realtime_join_duration_seconds\`, history="read"; over all repetitions, the p99 as the upper bound of its histogram bucket).`,
      'The bare ws rows time the same number of clients connecting to a bare `ws` server (no token, join or replay), at once and spread alike, from the same load processes: what this machine gives the connects alone.',
      "The raw side runs the replay SELECT of every client at once through a pool of 20 connections (the server's pool size), timing each from submission.",
      'Per-connection message and join limits are raised for this run only, so that a few publisher connections can carry the load.',
      ...(baseline ? [baselineNote(baseline)] : []),
    ],
  });
} finally {
  await clients.stop();
  await db.drop();
  await baselineDb?.drop();
}
