// Table-change workloads: the benchmark tables, a raw LISTEN client and a LISTEN + bare ws fan-out as baselines, INSERT writers (paced or flat out), and the rig B1 and B2 share.
import pg from 'pg';
import { parseTableName, subscribe } from '@nself/db';
import { alternate } from './alternate.js';
import { createBenchDatabase } from './database.js';
import { LoadClients } from './load-clients.js';
import { SequenceCheck, SOURCE_STRIDE } from './sequence.js';
import { startService, type Target } from './services.js';
import { nowMs } from './stats.js';
import type { SubscriberSpec } from './subscriber-clients.js';

/** The table our capture watches, and the tables whose trigger only calls pg_notify (raw LISTEN; LISTEN + bare ws fan-out). */
export const CAPTURED_TABLE = 'bench_rows';
export const RAW_TABLE = 'bench_raw';
export const FANOUT_TABLE = 'bench_fanout';
const RAW_CHANNEL = 'bench_raw';
const FANOUT_CHANNEL = 'bench_fanout';
/** The role in the subscribers' tokens (see tokens.ts). */
const SUBSCRIBER_ROLE = 'authenticated';

/** Creates the tables (columns s, t, body), the bare pg_notify triggers, and our subscription of INSERTs. */
async function createChangeTables(pool: pg.Pool): Promise<void> {
  for (const table of [CAPTURED_TABLE, RAW_TABLE, FANOUT_TABLE]) {
    await pool.query(`CREATE TABLE public.${pg.escapeIdentifier(table)} (id bigserial PRIMARY KEY, s bigint NOT NULL, t double precision NOT NULL, body text NOT NULL)`);
  }
  for (const [table, channel] of [
    [RAW_TABLE, RAW_CHANNEL],
    [FANOUT_TABLE, FANOUT_CHANNEL],
  ] as const) {
    await pool.query(`CREATE FUNCTION public.${pg.escapeIdentifier(`${table}_notify`)}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_notify(${pg.escapeLiteral(channel)}, NEW.s || ',' || NEW.t); RETURN NULL; END $$`);
    await pool.query(
      `CREATE TRIGGER ${pg.escapeIdentifier(`${table}_notify`)} AFTER INSERT ON public.${pg.escapeIdentifier(table)} FOR EACH ROW EXECUTE FUNCTION public.${pg.escapeIdentifier(`${table}_notify`)}()`,
    );
  }
  await subscribe(pool, { table: parseTableName(`public.${CAPTURED_TABLE}`), events: ['INSERT'] });
  // Subscribers connect with the role of their token, `authenticated`, which may read the captured table.
  await pool.query(`DO $$ BEGIN CREATE ROLE ${pg.escapeIdentifier(SUBSCRIBER_ROLE)} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
  await pool.query(`GRANT SELECT ON public.${pg.escapeIdentifier(CAPTURED_TABLE)} TO ${pg.escapeIdentifier(SUBSCRIBER_ROLE)}`);
}

/** A subscriber joining `topic` with a postgres_changes binding on the captured table's INSERTs. */
function changeSubscriber(topic: string): SubscriberSpec {
  return { topic, config: { broadcast: { self: false }, postgres_changes: [{ event: 'INSERT', schema: 'public', table: CAPTURED_TABLE }] } };
}

/** The baseline: one `pg` client LISTENing on the bare trigger's channel, timing and checking each notification. */
export class RawListener {
  latencies: number[] = [];
  check = new SequenceCheck();

  private constructor(private readonly client: pg.Client) {
    client.on('notification', (note) => {
      const receivedAt = nowMs();
      const [s, t] = (note.payload ?? '').split(',').map(Number);
      if (s === undefined || t === undefined) return;
      this.check.record(`raw:${Math.floor(s / SOURCE_STRIDE)}`, s % SOURCE_STRIDE);
      this.latencies.push(receivedAt - t);
    });
  }

  /** Connects and LISTENs. */
  static async start(url: string): Promise<RawListener> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`LISTEN ${pg.escapeIdentifier(RAW_CHANNEL)}`);
    return new RawListener(client);
  }

  /** Forgets what was measured; each of `sources` writers is expected from number 1. */
  reset(sources = 1): void {
    this.latencies = [];
    this.check = new SequenceCheck();
    for (let source = 0; source < sources; source += 1) this.check.expect(`raw:${source}`, 1);
  }

  /** Waits until `expected` notifications arrived, or none arrived for `quietMs`. */
  async drain(expected: number, quietMs = 1_500): Promise<void> {
    let last = -1;
    let lastChange = Date.now();
    while (this.latencies.length < expected && Date.now() - lastChange < quietMs) {
      if (this.latencies.length !== last) {
        last = this.latencies.length;
        lastChange = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  stop(): Promise<void> {
    return this.client.end();
  }
}

/** INSERT statement of the benchmark tables; `s` numbers the rows, `t` is the time the INSERT was sent. */
function insertSql(table: string): string {
  return `INSERT INTO public.${pg.escapeIdentifier(table)} (s, t, body) VALUES ($1, $2, $3)`;
}

/** One connection inserting `rate` rows per second for `durationMs`; returns how many rows it wrote. */
export async function insertPaced(url: string, table: string, rate: number, durationMs: number, bodyBytes: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const body = 'x'.repeat(bodyBytes);
  const sql = insertSql(table);
  const started = nowMs();
  const limit = Math.round((rate * durationMs) / 1000);
  let written = 0;
  try {
    while (written < limit) {
      const due = Math.min(limit, Math.floor(((nowMs() - started) * rate) / 1000));
      if (written >= due) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      written += 1;
      await client.query(sql, [written, nowMs(), body]);
    }
  } finally {
    await client.end();
  }
  return written;
}

/**
 * `writers` connections each inserting as fast as they can for `durationMs` (writer w numbers its
 * rows from w × SOURCE_STRIDE + 1). `synchronousCommit` false skips the disk flush per commit.
 * Returns the rows written per writer and the elapsed time.
 */
export async function insertFlatOut(
  url: string,
  table: string,
  writers: number,
  durationMs: number,
  bodyBytes: number,
  synchronousCommit: boolean,
): Promise<{ perWriter: number[]; elapsedMs: number }> {
  const body = 'x'.repeat(bodyBytes);
  const sql = insertSql(table);
  const started = nowMs();
  const perWriter = await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      if (!synchronousCommit) await client.query('SET synchronous_commit = off');
      let written = 0;
      try {
        while (nowMs() - started < durationMs) {
          written += 1;
          await client.query(sql, [writer * SOURCE_STRIDE + written, nowMs(), body]);
        }
      } finally {
        await client.end();
      }
      return written;
    }),
  );
  return { perWriter, elapsedMs: nowMs() - started };
}

/** Whether the server accepted `postgres_changes` joins; when not, why (e.g. the feature is not there yet). */
export interface ChangeSupport {
  readonly supported: boolean;
  readonly reason: string;
}

/** Opens `count` change subscribers on `topic`; a refused join is reported as "not supported", other failures throw. */
async function openChangeSubscribers(clients: LoadClients, target: Target, topic: string, count: number): Promise<ChangeSupport> {
  const opened = await clients.open(
    target,
    Array.from({ length: count }, () => changeSubscriber(topic)),
  );
  if (opened.failed === 0) return { supported: true, reason: '' };
  const reason = opened.failures[0] ?? 'join refused';
  await clients.closeAll();
  if (/RealtimeDisabled/i.test(reason)) return { supported: false, reason: `not supported by the server yet (join refused: ${reason})` };
  throw new Error(`${opened.failed} change subscribers could not join: ${opened.failures.join('; ')}`);
}

/** Which side of a table-change comparison runs: raw LISTEN, LISTEN fanned out by bare ws, or ours. */
export type ChangeSide = 'raw' | 'fanout' | 'nself';

/** How each side appears in result tables. */
export const CHANGE_SIDE_LABELS: Record<ChangeSide, string> = {
  raw: 'raw LISTEN (bare pg_notify trigger)',
  fanout: 'raw LISTEN + bare ws fan-out',
  nself: 'nself postgres_changes',
};

/** What a table-change benchmark runs against: a database with the tables, our server, the bare ws fan-out, load processes and the raw listener. */
export interface ChangeRig {
  readonly url: string;
  /** Our server, e.g. to read its `/metrics`. */
  readonly nself: Target;
  /** The subscribers of a side that has them (ours, or the bare ws fan-out's). */
  clientsOf(side: 'fanout' | 'nself'): LoadClients;
  /** The table a side's writers insert into. */
  tableOf(side: ChangeSide): string;
  readonly listener: RawListener;
  /** The topic change subscribers join. */
  readonly topic: string;
  /**
   * For each subscriber count: opens that many change subscribers on our server and on the bare ws
   * fan-out, then runs `once` for the raw side, the fan-out and ours in turn, `reps` times (ours
   * only when the server took the subscriptions).
   */
  measure<R>(label: string, subscriberCounts: readonly number[], reps: number, once: (side: ChangeSide, subscribers: number) => Promise<R>): Promise<Array<ChangeCase<R>>>;
  close(): Promise<void>;
}

/** The measurements of one subscriber count: each side's runs, and whether the server took the subscriptions. */
export interface ChangeCase<R> {
  readonly subscribers: number;
  readonly runs: Map<ChangeSide, R[]>;
  readonly support: ChangeSupport;
}

/** Creates the database and tables, starts nself as shipped, the bare ws fan-out, the load processes and the raw listener. */
export async function startChangeRig(workers: number, rowBytes: number): Promise<ChangeRig> {
  const db = await createBenchDatabase();
  await createChangeTables(db.pool);
  const topic = 'changes';
  const service = await startService('nself', { databaseUrl: db.url });
  const fanout = await startService('ws', { env: { BARE_WS_LISTEN: JSON.stringify({ url: db.url, channel: FANOUT_CHANNEL, room: topic, pad: rowBytes }) } });
  const clients = await LoadClients.start(workers);
  const fanoutClients = await LoadClients.start(workers);
  const listener = await RawListener.start(db.url);
  return {
    url: db.url,
    listener,
    topic,
    nself: service.target,
    clientsOf: (side) => (side === 'nself' ? clients : fanoutClients),
    tableOf: (side) => (side === 'raw' ? RAW_TABLE : side === 'fanout' ? FANOUT_TABLE : CAPTURED_TABLE),
    async measure<R>(label: string, subscriberCounts: readonly number[], reps: number, once: (side: ChangeSide, subscribers: number) => Promise<R>): Promise<Array<ChangeCase<R>>> {
      const cases: Array<ChangeCase<R>> = [];
      for (const subscribers of new Set(subscriberCounts)) {
        process.stderr.write(`${label} with ${subscribers} subscriber(s)\n`);
        const support = await openChangeSubscribers(clients, service.target, topic, subscribers);
        const fanned = await fanoutClients.open(
          fanout.target,
          Array.from({ length: subscribers }, () => ({ topic })),
        );
        if (fanned.failed > 0) throw new Error(`${fanned.failed} bare ws subscribers could not connect: ${fanned.failures.join('; ')}`);
        const sides: ChangeSide[] = support.supported ? ['raw', 'fanout', 'nself'] : ['raw', 'fanout'];
        const runs = await alternate<ChangeSide, R>(sides, reps, (side) => once(side, subscribers));
        cases.push({ subscribers, runs, support });
        await clients.closeAll();
        await fanoutClients.closeAll();
      }
      return cases;
    },
    async close() {
      await listener.stop();
      await clients.stop();
      await fanoutClients.stop();
      await fanout.stop();
      await service.stop();
      await db.drop();
    },
  };
}
