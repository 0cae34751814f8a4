// B3: what table capture costs the application's writes: INSERT TPS of a subscribed table at 1 and 8 writers, against no trigger and a bare pg_notify trigger.
//
// The measurement itself is bench/capture-writer-cost.ts (pgbench, variants interleaved round after
// round, medians); this command runs it, reads its table, and checks the targets.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { readOptions } from './lib/options.js';
import { benchDir } from './lib/paths.js';
import { fmt, publishResult, ratio, type TargetCheck } from './lib/report.js';

const options = readOptions('node --import tsx bench/b3-write-path.ts [options]', {
  seconds: { fallback: 3, help: 'seconds of pgbench per variant and round', min: 1 },
});

interface Row {
  readonly variant: string;
  readonly writers: number;
  readonly tps: number;
}

const started = Date.now();
const notifyTarget = (writers: number) => `capture (notify mode) ≥ 0.9× bare pg_notify trigger at ${writers} writer(s)`;
const feedTarget = (writers: number) => `capture (notify mode) with a feed running (positions at commit) ≥ 0.9× bare pg_notify trigger at ${writers} writer(s)`;
const POLL_TARGET = 'capture without a NOTIFY per transaction (poll mode) ≥ 0.75× no trigger at 8 writers';
const TARGET_NAMES = [notifyTarget(1), notifyTarget(8), feedTarget(1), feedTarget(8), POLL_TARGET];

if (spawnSync('pgbench', ['--version']).error) {
  process.stderr.write('B3 skipped: pgbench is not on PATH (it comes with PostgreSQL; Debian: apt-get install postgresql)\n');
  publishResult({
    id: 'B3', title: 'write-path cost of capture (INSERT TPS on a subscribed table)', date: new Date().toISOString(), durationS: (Date.now() - started) / 1000,
    options, deliveryProblems: 0, tables: [],
    targets: TARGET_NAMES.map((target) => ({ target, measured: 'pgbench not installed', met: null })),
    notes: ['Not measured: pgbench, PostgreSQL\'s benchmark tool, is not on PATH (Debian: apt-get install postgresql).'],
  });
  process.exit(0);
}

const output = await new Promise<string>((resolve, reject) => {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(benchDir, 'capture-writer-cost.ts'), '--seconds', String(options.seconds), '--reps', String(options.reps)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    process.stderr.write(chunk);
  });
  child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`capture-writer-cost.ts exited with ${code}`))));
});

const rows: Row[] = output.split('\n')
  .filter((line) => line.startsWith('| ') && !line.startsWith('| variant'))
  .map((line) => line.split('|').map((cell) => cell.trim()))
  .map((cells) => ({ variant: cells[1] ?? '', writers: Number(cells[2]), tps: Number(cells[3]) }));
const tps = (variant: string, writers: number) => rows.find((row) => row.variant === variant && row.writers === writers)?.tps ?? Number.NaN;
const header = output.split('\n').find((line) => line.startsWith('# PostgreSQL')) ?? '';

const notifyRatio = (variant: string, writers: number) => tps(variant, writers) / tps('bare pg_notify trigger', writers);
const targets: TargetCheck[] = [
  ...[1, 8].map((writers) => ({
    target: notifyTarget(writers),
    measured: ratio(tps('capture, notify mode', writers), tps('bare pg_notify trigger', writers)),
    met: notifyRatio('capture, notify mode', writers) >= 0.9,
  })),
  ...[1, 8].map((writers) => ({
    target: feedTarget(writers),
    measured: ratio(tps('capture, notify mode, feed running', writers), tps('bare pg_notify trigger', writers)),
    met: notifyRatio('capture, notify mode, feed running', writers) >= 0.9,
  })),
  {
    target: POLL_TARGET,
    measured: ratio(tps('capture, poll mode', 8), tps('no trigger', 8)),
    met: tps('capture, poll mode', 8) >= 0.75 * tps('no trigger', 8),
  },
];

publishResult({
  id: 'B3', title: 'write-path cost of capture (INSERT TPS on a subscribed table)', date: new Date().toISOString(), durationS: (Date.now() - started) / 1000,
  options, targets, deliveryProblems: 0,
  tables: [{
    title: `pgbench single-row INSERTs, ${options.seconds} s per variant, medians of ${options.reps} interleaved rounds`,
    columns: ['variant', 'writers', 'TPS', '÷ no trigger', '÷ bare pg_notify'],
    rows: rows.map((row) => [row.variant, row.writers, fmt(row.tps, 0), ratio(row.tps, tps('no trigger', row.writers)), ratio(row.tps, tps('bare pg_notify trigger', row.writers))]),
  }],
  notes: [
    header.replace(/^# /, ''),
    'Writes only: no server runs. "feed running" marks the log as wanted by a change feed (capture_state.announce_until), as a running server does: then each transaction positions its changes and announces them on realtime:changes as it commits. Every transaction that sends NOTIFY takes the cluster-wide notify lock at commit, so the bare pg_notify trigger is the ceiling for any NOTIFY-per-transaction capture.',
  ],
});
