// Runs each side of a comparison in turn (A, B, A, B, …) for several repetitions and keeps every side's runs.
import { median } from './stats.js';

/** Runs `once(side, rep)` for every side in turn, `reps` times; returns each side's runs in order. */
export async function alternate<S extends string, R>(sides: readonly S[], reps: number, once: (side: S, rep: number) => Promise<R>): Promise<Map<S, R[]>> {
  const runs = new Map<S, R[]>(sides.map((side) => [side, []]));
  for (let rep = 0; rep < reps; rep += 1) {
    for (const side of rep % 2 === 0 ? sides : [...sides].reverse()) {
      process.stderr.write(`  ${side} run ${rep + 1}/${reps}\n`);
      runs.get(side)?.push(await once(side, rep));
    }
  }
  return runs;
}

/** The median of one figure over a side's runs. */
export function medianOf<R>(runs: readonly R[] | undefined, pick: (run: R) => number): number {
  return median((runs ?? []).map(pick));
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
