// Measures what table capture costs the writer: INSERT TPS with pgbench at 1 and 8 writers, side by side.
//
//   node --import tsx bench/capture-writer-cost.ts [--seconds 5] [--reps 3] [--async-commit]
//
// Runs against DATABASE_URL, or the embedded PostgreSQL when it is unset, in a scratch database that
// is dropped at the end. Each variant is a table of the same shape receiving single-row INSERTs of
// about 250 bytes: no trigger, a bare pg_notify trigger, our capture in notify mode (with no feed
// running, and with one: then writers position and announce their changes at commit), our capture in
// poll mode (the log row only, no NOTIFY). Variants run interleaved, round after round, and each
// figure is the median of its rounds, so that background load falls on all variants alike.
// --async-commit runs pgbench with synchronous_commit=off, taking the disk flush out of each commit so
// that the CPU and lock costs of the triggers show.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { migrate, parseTableName, resolveDatabaseUrl, subscribe } from '@nself/db';
import { readOptions } from './lib/options.js';

interface Variant {
  readonly name: string;
  readonly table: string;
  readonly setup: (pool: pg.Pool) => Promise<void>;
  /** Runs while a change feed wants announcements (capture_state.announce_until). */
  readonly announced?: boolean;
}

const ASYNC_COMMIT = '--async-commit';
const asyncCommit = process.argv.includes(ASYNC_COMMIT);
const { seconds, reps: rounds } = readOptions(`node --import tsx bench/capture-writer-cost.ts [${ASYNC_COMMIT}] [options]`, {
  seconds: { fallback: 5, help: 'seconds of pgbench per figure', min: 1 },
}, process.argv.slice(2).filter((arg) => arg !== ASYNC_COMMIT));
const WRITER_COUNTS = [1, 8];
const TABLE_SHAPE = '(id bigserial PRIMARY KEY, author text NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())';

const variants: Variant[] = [
  { name: 'no trigger', table: 'bench_plain', setup: async () => undefined },
  {
    name: 'bare pg_notify trigger',
    table: 'bench_notify',
    setup: async (pool) => {
      await pool.query(`CREATE FUNCTION public.bench_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('bench', row_to_json(NEW)::text); RETURN NULL; END $$;
        CREATE TRIGGER bench_notify AFTER INSERT ON public.bench_notify FOR EACH ROW EXECUTE FUNCTION public.bench_notify();`);
    },
  },
  {
    name: 'capture, notify mode',
    table: 'bench_capture_notify',
    setup: async (pool) => { await subscribe(pool, { table: parseTableName('public.bench_capture_notify'), capture: 'notify' }); },
  },
  {
    // The same table while a change feed wants announcements: writers position their changes at commit.
    name: 'capture, notify mode, feed running',
    table: 'bench_capture_announced',
    setup: async (pool) => { await subscribe(pool, { table: parseTableName('public.bench_capture_announced'), capture: 'notify' }); },
    announced: true,
  },
  {
    name: 'capture, poll mode',
    table: 'bench_capture_poll',
    setup: async (pool) => { await subscribe(pool, { table: parseTableName('public.bench_capture_poll'), capture: 'poll' }); },
  },
];

async function main(): Promise<void> {
  const serverUrl = await resolveDatabaseUrl();
  const name = `nself_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  const scratch = mkdtempSync(path.join(tmpdir(), 'nself-bench-'));
  try {
    const server = await pool.query<{ version: string; wal_level: string }>("SELECT current_setting('server_version') AS version, current_setting('wal_level') AS wal_level");
    process.stdout.write(`# PostgreSQL ${server.rows[0]?.version} (wal_level=${server.rows[0]?.wal_level}, synchronous_commit=${asyncCommit ? 'off' : 'on'}), ${rounds} rounds of ${seconds} s per figure (median), pgbench single-row INSERTs of ~250 bytes\n`);
    await migrate(pool);
    const scripts = new Map<string, string>();
    for (const variant of variants) {
      await pool.query(`CREATE TABLE public.${variant.table} ${TABLE_SHAPE}`);
      await variant.setup(pool);
      const script = path.join(scratch, `${variant.table}.sql`);
      writeFileSync(script, `INSERT INTO public.${variant.table} (author, body) VALUES ('user-' || :client_id, repeat('x', 200));\n`);
      scripts.set(variant.name, script);
    }
    const samples = new Map<string, number[]>();
    for (let round = 1; round <= rounds; round += 1) {
      for (const writers of WRITER_COUNTS) {
        for (const variant of variants) {
          await pool.query(`TRUNCATE public.${variant.table}`);
          await pool.query('SELECT realtime.sequence_changes(10000000)');
          await pool.query('TRUNCATE realtime.changes');
          await pool.query('CHECKPOINT').catch(() => undefined);
          await pool.query(`UPDATE realtime.capture_state SET announce_until = ${variant.announced ? "now() + interval '1 hour'" : 'NULL'}`);
          const tps = runPgbench(url.toString(), scripts.get(variant.name) ?? '', writers);
          const key = `${variant.name}|${writers}`;
          samples.set(key, [...(samples.get(key) ?? []), tps]);
          process.stdout.write(`#   round ${round}: ${variant.name}, ${writers} writer(s): ${tps.toFixed(0)} TPS (load ${loadavg()[0]?.toFixed(1)})\n`);
        }
      }
    }
    const results = variants.flatMap((variant) => WRITER_COUNTS.map((writers) => ({
      variant: variant.name, writers, tps: median(samples.get(`${variant.name}|${writers}`) ?? []),
    })));
    printTable(results);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
}

function runPgbench(url: string, script: string, writers: number): number {
  const result = spawnSync('pgbench', ['-n', '-f', script, '-c', String(writers), '-j', String(Math.min(writers, 2)), '-T', String(seconds), url], {
    encoding: 'utf8',
    env: { ...process.env, PGOPTIONS: asyncCommit ? '-c synchronous_commit=off' : '' },
  });
  const match = /tps = ([\d.]+)/.exec(result.stdout);
  if (result.status !== 0 || !match) throw new Error(`pgbench failed: ${result.stderr || result.stdout}`);
  return Number(match[1]);
}

function printTable(results: readonly { variant: string; writers: number; tps: number }[]): void {
  const tpsOf = (variant: string, writers: number) => results.find((r) => r.variant === variant && r.writers === writers)?.tps ?? NaN;
  const header = ['variant', 'writers', 'TPS', 'vs no trigger', 'vs bare pg_notify'];
  const rows = results.map((r) => [
    r.variant, String(r.writers), r.tps.toFixed(0),
    (r.tps / tpsOf('no trigger', r.writers)).toFixed(2), (r.tps / tpsOf('bare pg_notify trigger', r.writers)).toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: readonly string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  process.stdout.write([line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line), ''].join('\n'));
}

await main();
