// `npm run bench`: runs B1 to B11 at a small size (options after `--` are passed to every benchmark), then regenerates docs/performance.md.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { createBenchDatabase } from './lib/database.js';
import { benchDir } from './lib/paths.js';
import { currentLoad, performanceDoc, readResults, writePerformanceDoc } from './lib/performance-doc.js';
import { markdownTable } from './lib/report.js';

/** Each benchmark with the small size `npm run bench` uses. */
const BENCHMARKS: ReadonlyArray<readonly [id: string, script: string, args: readonly string[]]> = [
  ['B1', 'b1-change-latency.ts', ['--seconds', '3']],
  ['B2', 'b2-change-throughput.ts', ['--seconds', '3']],
  ['B3', 'b3-write-path.ts', ['--seconds', '2']],
  ['B4', 'b4-broadcast-fanout.ts', ['--subscribers', '300', '--seconds', '3']],
  ['B5', 'b5-connections.ts', ['--connections', '10000', '--idle', '3']],
  ['B6', 'b6-presence.ts', ['--members', '200', '--seconds', '3']],
  ['B7', 'b7-history-replay.ts', ['--clients', '200', '--seconds', '2']],
  ['B8', 'b8-slow-consumers.ts', ['--rate', '50', '--seconds', '4']],
  ['B9', 'b9-workers.ts', ['--seconds', '2']],
  ['B10', 'b10-bus-ceiling.ts', ['--seconds', '2']],
  ['B11', 'b11-graphql-live.ts', ['--seconds', '10']],
];

const only = process.argv
  .slice(2)
  .filter((arg) => /^B\d+$/i.test(arg))
  .map((arg) => arg.toUpperCase());
const extra = process.argv.slice(2).filter((arg) => !/^B\d+$/i.test(arg));
const probe = await createBenchDatabase(1);
const database = `PostgreSQL ${probe.version} (${probe.embedded ? 'embedded, under .nself/bench' : `DATABASE_URL, ${probe.server}`})`;
await probe.drop();

const startedAt = new Date();
const loadBefore = currentLoad();
const failures: string[] = [];
for (const [id, script, args] of BENCHMARKS) {
  if (only.length > 0 && !only.includes(id)) continue;
  process.stderr.write(`\n== ${id}: ${script} ${[...args, ...extra].join(' ')}\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(benchDir, script), ...args, ...extra], { stdio: 'inherit', timeout: 15 * 60_000 });
  if (result.status !== 0) failures.push(id);
}

const results = readResults();
writePerformanceDoc(results, { database, startedAt, finishedAt: new Date(), loadBefore, loadAfter: currentLoad(), failures });
const problems = results.reduce((sum, result) => sum + result.deliveryProblems, 0);
process.stdout.write(
  `\n${markdownTable({
    title: 'all',
    columns: ['benchmark', 'targets met', 'delivery problems'],
    rows: results.map((result) => [`${result.id}: ${result.title}`, `${result.targets.filter((check) => check.met).length} of ${result.targets.length}`, result.deliveryProblems]),
  })}\n\nWrote ${path.relative(process.cwd(), performanceDoc)}.${failures.length > 0 ? ` Failed: ${failures.join(', ')}.` : ''}\n`,
);
process.exit(failures.length > 0 || problems > 0 ? 1 : 0);
