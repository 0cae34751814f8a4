// BENCH_BASELINE: another built checkout whose server a benchmark runs as one more side, to compare old and new code in one run.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createBenchDatabase, type BenchDatabase } from './database.js';
import { repositoryRoot } from './paths.js';

/** A built checkout of this project whose server runs beside this checkout's, in the same alternation. */
export interface Baseline {
  /** The checkout's root, for `startService('nself', { root })`. */
  readonly root: string;
  /** Its commit (`git rev-parse --short HEAD`, "+modified" when tracked files differ from it). */
  readonly commit: string;
  /** Its side's name in result tables: "nself at <commit>". */
  readonly label: string;
}

/** The variable that names the baseline checkout, then the older name B11 read it from (still accepted). */
const VARIABLES = ['BENCH_BASELINE', 'B11_BASELINE'] as const;

/**
 * The baseline checkout named by BENCH_BASELINE (or B11_BASELINE), undefined when neither is set.
 * A path that is not a built checkout prints a one-line error and exits 2, as a bad option does.
 */
export function readBaseline(env: NodeJS.ProcessEnv = process.env): Baseline | undefined {
  const name = VARIABLES.find((variable) => env[variable]);
  const value = name ? env[name] : undefined;
  if (!name || !value) return undefined;
  const root = path.resolve(value);
  // The server runs from the compiled command line, so the checkout must have been built (`npm install` builds).
  const compiled = path.join('packages', 'cli', 'dist', 'main.js');
  if (!existsSync(path.join(root, compiled))) {
    process.stderr.write(`error: ${name} "${value}" is not a built checkout of nself (no ${compiled} there); accepted: the path of a checkout where \`npm install\` has run\n`);
    process.exit(2);
  }
  const commit = commitOf(root);
  return { root, commit, label: `nself at ${commit}` };
}

/**
 * A fresh database for the baseline's side, its schema left for the baseline's server to install as it starts:
 * the two builds' schemas may differ (a function changed or overloaded), so they never share a database.
 */
export function createBaselineDatabase(poolSize?: number): Promise<BenchDatabase> {
  return createBenchDatabase(poolSize, { migrated: false });
}

/** A result note saying which build each nself side ran. */
export function baselineNote(baseline: Baseline): string {
  return `"${baseline.label}" is the server of another checkout of this repository, built (BENCH_BASELINE), started with the same settings and run in the same alternation as this checkout's (commit ${commitOf(repositoryRoot)}), on a database of its own on the same PostgreSQL with the schema it installs, for the before/after figures of a change.`;
}

/** The checkout's short commit, "+modified" when its tracked files differ from it; the directory's name when it is not a git checkout. */
function commitOf(root: string): string {
  const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const commit = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') === '' ? commit : `${commit}+modified`;
  } catch {
    return path.basename(root);
  }
}
