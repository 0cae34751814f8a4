// Command-line options of a benchmark: whole-number settings with defaults, `--help`, and one-line errors.
import { parseArgs } from 'node:util';

/** One numeric option: its default and what it sets. */
export interface OptionSpec {
  readonly fallback: number;
  readonly help: string;
  readonly min?: number;
}

/**
 * Reads `--name value` options of `specs` (plus `--reps`) from argv. Unknown or malformed options
 * print a one-line error naming the accepted ones and exit 2; `--help` prints them and exits 0.
 */
export function readOptions<T extends Record<string, OptionSpec>>(usage: string, specs: T, argv = process.argv.slice(2)): { [K in keyof T | 'reps']: number } {
  const all: Record<string, OptionSpec> = { reps: { fallback: 3, help: 'repetitions of each side (medians are reported)', min: 1 }, ...specs };
  const fail = (message: string): never => {
    process.stderr.write(
      `error: ${message}; accepted: ${Object.keys(all)
        .map((name) => `--${name} <n>`)
        .join(', ')}\n`,
    );
    process.exit(2);
  };
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.keys(all).map((name) => [name, { type: 'string' as const }]));
    values = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean' } }, strict: true }).values;
  } catch (error) {
    return fail(error instanceof Error ? (error.message.split('\n')[0] ?? 'bad option') : 'bad option');
  }
  if (values.help) {
    process.stdout.write(
      `${usage}\n\n${Object.entries(all)
        .map(([name, spec]) => `  --${name} <n>  ${spec.help} (default ${spec.fallback})`)
        .join('\n')}\n`,
    );
    process.exit(0);
  }
  const result: Record<string, number> = {};
  for (const [name, spec] of Object.entries(all)) {
    const raw = values[name];
    if (raw === undefined) {
      result[name] = spec.fallback;
      continue;
    }
    const value = Number(raw);
    if (typeof raw !== 'string' || !/^\d+(\.\d+)?$/.test(raw) || value < (spec.min ?? 0)) fail(`--${name} "${String(raw)}" is not a number of at least ${spec.min ?? 0}`);
    result[name] = value;
  }
  return result as { [K in keyof T | 'reps']: number };
}
