// Waiting in tests: polling a condition until it holds, and plain sleeps.

/**
 * Polls `check` every 20 ms until it returns a value other than undefined or false, and resolves with
 * that value. Fails after `timeoutMs` naming `what` (a function is read at the failure, to show the
 * state then).
 */
export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string | (() => string), timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(20);
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
