// Token expiry of joined channels: one timer for the process finds, each second, whose time has come.

/** Something told once the second it was scheduled for has passed. */
export interface Expiring {
  expire(): void;
}

const TICK_MS = 1_000;

/** Calls `expire()` of each scheduled entry within about a second after its time, with one timer for all. */
export class ExpiryWatch {
  /** Second since the epoch → the entries due in it. */
  private readonly due = new Map<number, Set<Expiring>>();
  private checkedUpTo = currentSecond();
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => this.check(), TICK_MS);
    this.timer.unref();
  }

  /** Schedules `entry` for the second `atSecond` (since the epoch); returns the second it was filed under, for `cancel`. */
  schedule(entry: Expiring, atSecond: number): number {
    const second = Math.max(Math.ceil(atSecond), this.checkedUpTo + 1);
    let entries = this.due.get(second);
    if (!entries) {
      entries = new Set();
      this.due.set(second, entries);
    }
    entries.add(entry);
    return second;
  }

  /** Forgets `entry` filed under `second`. */
  cancel(entry: Expiring, second: number): void {
    const entries = this.due.get(second);
    if (!entries?.delete(entry)) return;
    if (entries.size === 0) this.due.delete(second);
  }

  /** Stops the timer. */
  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    const now = currentSecond();
    // After a long stall, walking the filed seconds is shorter than walking every second missed.
    const seconds =
      now - this.checkedUpTo > this.due.size
        ? [...this.due.keys()].filter((second) => second <= now).sort((a, b) => a - b)
        : Array.from({ length: Math.max(0, now - this.checkedUpTo) }, (_, index) => this.checkedUpTo + 1 + index);
    this.checkedUpTo = Math.max(this.checkedUpTo, now);
    for (const second of seconds) {
      const entries = this.due.get(second);
      this.due.delete(second);
      for (const entry of entries ?? []) entry.expire();
    }
  }
}

function currentSecond(): number {
  return Math.floor(Date.now() / 1000);
}
