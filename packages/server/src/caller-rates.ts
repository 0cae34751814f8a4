// Per-caller rate limits over one-second windows, forgetting callers idle for a window so memory stays bounded.

interface Window {
  start: number;
  count: number;
}

/** Counts units (e.g. messages) per caller per one-second window, allowing `limit` in each. */
export class CallerRates {
  private readonly windows = new Map<string, Window>();
  private lastSweep = 0;

  constructor(private readonly limit: number) {}

  /** Takes `units` for `caller`; false (and nothing taken) when that would pass the limit of the current second. */
  take(caller: string, units: number, now = Date.now()): boolean {
    this.sweep(now);
    let window = this.windows.get(caller);
    if (!window || now - window.start >= 1000) {
      window = { start: now, count: 0 };
      this.windows.set(caller, window);
    }
    if (window.count + units > this.limit) return false;
    window.count += units;
    return true;
  }

  /** Drops windows that ended, at most once a second: only callers of the last second are kept. */
  private sweep(now: number): void {
    if (now - this.lastSweep < 1000) return;
    this.lastSweep = now;
    for (const [caller, window] of this.windows) if (now - window.start >= 1000) this.windows.delete(caller);
  }
}
