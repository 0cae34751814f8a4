// Steps that undo what a benchmark set up, run once in reverse order: at its end, after an error, or on Ctrl-C / SIGTERM.
const steps: Array<() => Promise<void>> = [];
let running: Promise<void> | undefined;

/** Adds a step to run at teardown (the last added runs first). */
export function onTeardown(step: () => Promise<void>): void {
  steps.push(step);
}

/** Runs every step once; a failing step is reported and the others still run. */
export function teardown(): Promise<void> {
  running ??= (async () => {
    for (let step = steps.pop(); step; step = steps.pop()) {
      try {
        await step();
      } catch (error) {
        process.stderr.write(`teardown: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  })();
  return running;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: cleaning up before exit\n`);
    void teardown().finally(() => process.exit(130));
  });
}
