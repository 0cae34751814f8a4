// B3: what table capture costs the application's writes: INSERT TPS at 1 and 8 writers of the WAL and trigger paths (each with a live subscriber) and the seed trigger in WAL mode, against no capture and a bare pg_notify trigger.
//
// The measurement is bench/lib/writer-cost.ts, which bench/capture-writer-cost.ts also prints (pgbench,
// variants interleaved round after round, medians); this command publishes it and checks the targets.
import { readOptions } from './lib/options.js';
import { pgbenchAvailable } from './lib/pgbench.js';
import { publishResult } from './lib/report.js';
import { teardown } from './lib/teardown.js';
import { measureWriterCost } from './lib/writer-cost.js';
import { cpuTable, deliveryProblems, tpsTable, writerCostTargets } from './lib/writer-cost-report.js';

const options = readOptions('node --import tsx bench/b3-write-path.ts [options]', {
  seconds: { fallback: 3, help: 'seconds of pgbench per variant and round', min: 1 },
});

const TITLE = 'write-path cost of capture (INSERT TPS on a subscribed table)';
const started = Date.now();

if (!pgbenchAvailable()) {
  process.stderr.write('B3 skipped: pgbench is not on PATH (it comes with PostgreSQL; Debian: apt-get install postgresql-client)\n');
  publishResult({
    id: 'B3',
    title: TITLE,
    date: new Date().toISOString(),
    durationS: 0,
    options,
    deliveryProblems: 0,
    tables: [],
    targets: [],
    notes: ["Not measured: pgbench, PostgreSQL's benchmark tool, is not on PATH (Debian: apt-get install postgresql-client)."],
  });
  process.exit(0);
}

try {
  const cost = await measureWriterCost({ seconds: options.seconds, rounds: options.reps, asyncCommit: false }, (line) => process.stderr.write(`  ${line}\n`));
  const cpu = cpuTable(cost, 'CPU while the writers ran: cores busy in all, and CPU per row written by process (medians)');
  publishResult({
    id: 'B3',
    title: TITLE,
    date: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    options,
    targets: writerCostTargets(cost),
    deliveryProblems: deliveryProblems(cost),
    tables: [tpsTable(cost, `pgbench single-row INSERTs of ~250 bytes, ${options.seconds} s per variant, medians of ${options.reps} interleaved rounds`), ...(cpu ? [cpu] : [])],
    notes: [
      cost.postgres,
      "Each capture path runs as it ships, in its own database: an nself server (`REALTIME_CAPTURE=auto`, the WAL path; `REALTIME_CAPTURE=trigger`, the trigger path) with one postgres_changes subscriber of the table's INSERTs that counts every change it receives. A variant's server and subscriber run only during its own runs, and have received everything written before them when the writers start.",
      '"seed subscribe trigger, WAL mode" is the trigger `nself realtime subscribe` installs (rows in the notification), in a database whose WAL path is set up: it only sends the notification, and is compared with the bare pg_notify trigger. Every transaction that sends NOTIFY takes the cluster-wide notify lock at commit.',
      ...cost.problems,
      ...cost.serverLog.map((line) => `Server log: ${line}`),
    ],
  });
} finally {
  await teardown();
}
