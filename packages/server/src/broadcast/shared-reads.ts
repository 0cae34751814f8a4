// Reads that many joins ask for alike (a channel's log after one offset): the identical reads queued together run once.

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Runs each read by key, sharing one run between the callers that asked while it was still queued.
 * A read already running is never shared with a later caller: that caller waits for the next run, so
 * every caller gets a result read after it asked (what it has already been told stays consistent).
 */
export class SharedReads<T> {
  /** Key → callers waiting for the next run of that read. */
  private readonly queued = new Map<string, Waiter<T>[]>();
  private readonly running = new Set<string>();

  /** The result of `load`, run once for the callers of `key` that asked before the run started. */
  read(key: string, load: () => Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const waiters = this.queued.get(key);
      if (waiters) {
        waiters.push({ resolve, reject });
        return;
      }
      this.queued.set(key, [{ resolve, reject }]);
      if (!this.running.has(key)) setImmediate(() => void this.run(key, load));
    });
  }

  private async run(key: string, load: () => Promise<T>): Promise<void> {
    this.running.add(key);
    for (let waiters = this.queued.get(key); waiters; waiters = this.queued.get(key)) {
      this.queued.delete(key);
      try {
        const value = await load();
        for (const waiter of waiters) waiter.resolve(value);
      } catch (error) {
        for (const waiter of waiters) waiter.reject(error);
      }
    }
    this.running.delete(key);
  }
}
