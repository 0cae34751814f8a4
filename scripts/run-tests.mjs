#!/usr/bin/env node
// Runs the test suite from the packages' TypeScript sources with node's test runner, against DATABASE_URL or an embedded PostgreSQL.
//
//   node scripts/run-tests.mjs                    build, typecheck, lint, then every test file
//   node scripts/run-tests.mjs test/a.test.ts …   build, then those files (or every test file under a folder)
//   node scripts/run-tests.mjs --watch [paths]    build, then rerun the files whenever they or a source they import change
//
// Other `--options` go to node's test runner (e.g. --test-name-pattern=…). NSELF_TEST_CONCURRENCY sets how
// many files run at once (default: twice the number of cores); the files in RUN_ALONE run afterwards, one at a time.
// NSELF_TEST_CHECKS=skip leaves out the typecheck and lint of a full run. Test databases asked for `{ migrated: true }`
// are copied from a template database migrated once per version of packages/db/sql (test/helpers/database.ts).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The export condition under which each package's "exports" points at its src/index.ts. */
const SOURCE_CONDITION = 'nself-source';

/**
 * Files that must not share the machine with other test files, with the reason. They run after the
 * others, one at a time.
 */
const RUN_ALONE = new Map([
  ['test/server/postgres-restart.test.ts', 'restarts the PostgreSQL that every other file uses'],
  ['test/history/postgres-restart.test.ts', 'streams 10,000 messages to 50 subscribers across a restart within fixed timeouts'],
  ['test/cli/slots.test.ts', "asserts how far a replication slot lags and when it was last read, which other files' writes and load move"],
  ['test/server/slot-monitor.test.ts', "asserts how far a replication slot lags and when it was last read, which other files' writes and load move"],
  ['test/capture/order.test.ts', "terminates its feed's connections every 150 ms and expects each kill to find them back, which a busy machine misses"],
  ['test/history/bounded-reads.test.ts', "bounds the server's memory while clients read slowly, which other files' load stretches (slower readers hold fuller send buffers)"],
  ['test/server/postgres-changes-wal.test.ts', 'times the takeover of the WAL slot after a SIGKILL (under 10 s), which a busy machine slows'],
  ['test/graphql/live.test.ts', 'bounds the median time from commit to a live query result (50 ms), which a busy machine stretches'],
]);

const args = process.argv.slice(2);
const watch = args.includes('--watch');
const runnerOptions = args.filter((arg) => arg.startsWith('--') && arg !== '--watch');
const paths = args.filter((arg) => !arg.startsWith('--'));
// Test files spend most of their time waiting on PostgreSQL, servers and sockets, so twice as many files as cores keeps
// the cores busy: on 2 cores the suite's files took 534 s two at a time and 347 s four at a time.
const concurrency = Number(process.env.NSELF_TEST_CONCURRENCY ?? 2 * availableParallelism());
if (!Number.isInteger(concurrency) || concurrency < 1) {
  throw new Error(`NSELF_TEST_CONCURRENCY must be a whole number of files, 1 or more; got "${process.env.NSELF_TEST_CONCURRENCY}"`);
}

function findTests(dir) {
  const found = [];
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist' || entry.startsWith('.')) continue;
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) found.push(...findTests(full));
    else if (entry.endsWith('.test.ts') || entry.endsWith('.test.tsx')) found.push(full);
  }
  return found;
}

function allTests() {
  return [
    ...findTests(path.join(root, 'test')),
    ...readdirSync(path.join(root, 'packages')).flatMap((pkg) => {
      const dir = path.join(root, 'packages', pkg, 'test');
      try {
        return findTests(dir);
      } catch {
        return [];
      }
    }),
  ];
}

function testsAt(given) {
  const full = path.resolve(given);
  let stat;
  try {
    stat = statSync(full);
  } catch {
    throw new Error(`no test file or folder at ${given}`);
  }
  return stat.isDirectory() ? findTests(full) : [full];
}

/** Runs an npm script of the repository, stopping the run when it fails. */
function npmRun(script) {
  const result = spawnSync('npm', ['run', '--silent', script], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** Runs npm scripts side by side (each is mostly one core's work), stopping the run when one fails. */
async function npmRunTogether(scripts) {
  const statuses = await Promise.all(
    scripts.map(
      (script) =>
        new Promise((resolve) => {
          spawn('npm', ['run', '--silent', script], { cwd: root, stdio: 'inherit' }).on('close', (code) => resolve(code ?? 1));
        }),
    ),
  );
  const failed = statuses.find((status) => status !== 0);
  if (failed !== undefined) process.exit(failed);
}

const files = [...new Set(paths.length > 0 ? paths.flatMap(testsAt) : allTests())].sort();
if (files.length === 0) throw new Error(`no *.test.ts files in ${paths.join(', ')}`);

// Test files import the packages' sources, but the `nself` binary and server processes they start run the build.
const phaseStarted = Date.now();
npmRun('build');
// NSELF_TEST_CHECKS=skip leaves out the typecheck and lint of a full run (CI runs them once, before the first of its runs).
if (paths.length === 0 && !watch && process.env.NSELF_TEST_CHECKS !== 'skip') {
  await npmRunTogether(['typecheck', 'lint']);
}
const checksSeconds = (Date.now() - phaseStarted) / 1000;

// Imported after the build: run without the source condition, this script gets @nself/db from dist.
const { ensureEmbeddedPostgres, describeDatabase } = await import('@nself/db');
let adminUrl = process.env.DATABASE_URL?.trim();
let target = 'DATABASE_URL';
if (!adminUrl) {
  adminUrl = (await ensureEmbeddedPostgres(path.join(root, '.nself', 'test'))).url;
  target = 'embedded PostgreSQL';
}
process.stdout.write(`# database: ${target} (${describeDatabase(adminUrl)})\n# test files: ${files.length}\n`);
const { prepareMigratedTemplate } = await import('../test/helpers/database.ts');
const template = await prepareMigratedTemplate(adminUrl);

const nodeOptions = [`--conditions=${SOURCE_CONDITION}`, '--import', 'tsx'];
const env = {
  ...process.env,
  NSELF_TEST_ADMIN_URL: adminUrl,
  NSELF_TEST_TEMPLATE: template,
  DATABASE_URL: '',
  // tsx reads the tsconfig of the directory it starts in, and the repository root has none (JSX needs one).
  TSX_TSCONFIG_PATH: path.join(root, 'test', 'tsconfig.json'),
};

if (watch) {
  const result = spawnSync(process.execPath, [...nodeOptions, '--test', '--watch', ...runnerOptions, ...files], { cwd: root, stdio: 'inherit', env });
  process.exit(result.status ?? 1);
}

const reports = mkdtempSync(path.join(tmpdir(), 'nself-test-report-'));
const interactive = process.stdout.isTTY === true;

/** Runs `group` with node's test runner, `filesAtOnce` at a time; resolves with the summary of the run. */
function runGroup(name, group, filesAtOnce) {
  const summaryFile = path.join(reports, `${name}.json`);
  const child = spawn(
    process.execPath,
    [
      ...nodeOptions,
      '--test',
      '--test-timeout=300000',
      `--test-concurrency=${filesAtOnce}`,
      `--test-reporter=${interactive ? 'spec' : 'tap'}`,
      '--test-reporter-destination=stdout',
      `--test-reporter=${path.join(root, 'scripts', 'test-summary.mjs')}`,
      `--test-reporter-destination=${summaryFile}`,
      ...runnerOptions,
      ...group,
    ],
    { cwd: root, stdio: 'inherit', env },
  );
  return new Promise((resolve) => {
    child.on('close', (code) => {
      let summary = { counts: {}, files: {} };
      try {
        summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
      } catch {
        /* the runner died before reporting */
      }
      resolve({ ok: code === 0, ...summary });
    });
  });
}

const started = Date.now();
const alone = files.filter((file) => RUN_ALONE.has(path.relative(root, file)));
const together = files.filter((file) => !alone.includes(file));
const runs = [];
if (together.length > 0) runs.push(await runGroup('together', together, concurrency));
if (alone.length > 0) {
  process.stdout.write(`# files that run alone: ${alone.map((file) => path.relative(root, file)).join(', ')}\n`);
  runs.push(await runGroup('alone', alone, 1));
}
rmSync(reports, { recursive: true, force: true });

const totals = {};
for (const run of runs) {
  for (const [name, value] of Object.entries(run.counts)) totals[name] = (totals[name] ?? 0) + value;
}
const durations = runs.flatMap((run) => Object.entries(run.files)).sort((a, b) => b[1] - a[1]);
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
if (durations.length > 1) {
  process.stdout.write(
    `# slowest files: ${durations
      .slice(0, 8)
      .map(([file, ms]) => `${path.relative(root, file)} ${seconds(ms)}`)
      .join(', ')}\n`,
  );
}
const counted = ['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo'].map((name) => `${name} ${totals[name] ?? 0}`).join(', ');
process.stdout.write(`# all files: ${counted}; ${seconds(Date.now() - started)} with ${concurrency} file(s) at once (build and checks before: ${checksSeconds.toFixed(1)} s)\n`);
process.exit(runs.every((run) => run.ok) ? 0 : 1);
