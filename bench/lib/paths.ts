// Where the repository and the benchmark scripts are on disk.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The benchmark directory (bench/). */
export const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The repository root. */
export const repositoryRoot = path.resolve(benchDir, '..');
