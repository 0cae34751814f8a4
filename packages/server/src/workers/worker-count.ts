// How many worker processes a server runs: REALTIME_WORKERS or --workers, else 1 (auto with NODE_ENV=production).
import { availableParallelism } from 'node:os';
import { readSetting, type WorkerCount } from '@nself/db';

/** The number of processes to run, and the words the start line uses for how it was chosen. */
export interface ResolvedWorkers {
  readonly count: number;
  readonly chosenBy: string;
}

/** Resolves `configured` (undefined when neither the variable nor the flag is set) against this machine. */
export function resolveWorkerCount(configured: WorkerCount | undefined, env: NodeJS.ProcessEnv): ResolvedWorkers {
  const production = readSetting(env, 'NODE_ENV') === 'production';
  const asked = configured ?? (production ? 'auto' : 1);
  if (asked === 'auto') {
    const cores = availableParallelism();
    return { count: cores, chosenBy: `${configured === undefined ? 'auto, the default with NODE_ENV=production' : 'auto'}: one per core, ${cores} here` };
  }
  return { count: asked, chosenBy: configured === undefined ? '1, the default without NODE_ENV=production' : String(asked) };
}
