// A per-second counter for rate limits: allows `limit` events in each one-second window.

/** Counts events per one-second window. */
export class RateWindow {
  private windowStart = 0;
  private count = 0;

  constructor(private readonly limit: number) {}

  /** Counts one event; false when it is over the limit for the current second. */
  take(now = Date.now()): boolean {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    this.count++;
    return this.count <= this.limit;
  }
}
