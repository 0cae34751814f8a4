// Measures what table-change capture costs the application's writers: INSERT TPS with pgbench at 1 and 8 writers, five setups side by side.
//
//   node --import tsx bench/capture-writer-cost.ts [--seconds 6] [--reps 3] [--async-commit]
//
// Runs against DATABASE_URL, or the embedded PostgreSQL when it is unset (wal_level must be logical),
// in scratch databases that are dropped at the end with their replication slots, also after an error
// or Ctrl-C. The setups (bench/lib/writer-cost.ts): no capture; a bare pg_notify trigger; the WAL path
// with an nself server (REALTIME_CAPTURE=auto) and one live postgres_changes subscriber; the trigger
// path likewise (REALTIME_CAPTURE=trigger, its own database); the trigger `nself realtime subscribe`
// installs, in a database whose WAL path is set up, where it only notifies. Each table receives
// single-row INSERTs of about 250 bytes; variants run interleaved round after round and each figure is
// the median of its rounds. The subscribers count what they receive, so that a path that drops
// changes cannot look fast. --async-commit runs pgbench with synchronous_commit=off, taking the disk
// flush out of each commit so that the CPU and lock costs show.
import { loadavg } from 'node:os';
import { readOptions } from './lib/options.js';
import { pgbenchAvailable } from './lib/pgbench.js';
import { markdownTable } from './lib/report.js';
import { teardown } from './lib/teardown.js';
import { measureWriterCost } from './lib/writer-cost.js';
import { cpuTable, tpsTable, writerCostTargets } from './lib/writer-cost-report.js';

const ASYNC_COMMIT = '--async-commit';
const asyncCommit = process.argv.includes(ASYNC_COMMIT);
const { seconds, reps: rounds } = readOptions(
  `node --import tsx bench/capture-writer-cost.ts [${ASYNC_COMMIT}] [options]`,
  {
    seconds: { fallback: 6, help: 'seconds of pgbench per figure', min: 1 },
  },
  process.argv.slice(2).filter((arg) => arg !== ASYNC_COMMIT),
);

if (!pgbenchAvailable()) {
  process.stderr.write('error: pgbench is not on PATH (it comes with PostgreSQL; Debian: apt-get install postgresql-client)\n');
  process.exit(2);
}

try {
  const cost = await measureWriterCost({ seconds, rounds, asyncCommit }, (line) => process.stderr.write(`# ${line}\n`));
  const cpu = cpuTable(cost, 'CPU while the writers ran (medians)');
  process.stdout.write(
    [
      `# ${cost.postgres}; ${rounds} rounds of ${seconds} s per figure (median); load average ${cost.loadBefore.toFixed(1)} before, ${cost.loadAfter.toFixed(1)} after (now ${loadavg()[0]?.toFixed(1)})`,
      '',
      markdownTable(tpsTable(cost, 'TPS')),
      '',
      ...(cpu ? [markdownTable(cpu), ''] : []),
      markdownTable({
        title: 'targets',
        columns: ['target', 'measured', 'verdict'],
        rows: writerCostTargets(cost).map((check) => [check.target, check.measured, check.met === null ? 'not measured' : check.met ? 'met' : 'missed']),
      }),
      '',
      ...cost.problems.map((problem) => `problem: ${problem}`),
      ...cost.serverLog.map((line) => `server log: ${line}`),
      '',
    ].join('\n'),
  );
} finally {
  await teardown();
}
