// Checks that each stream's numbered messages arrive once each and in order: counts gaps, duplicates and missing tails.

/** Messages of several sources (e.g. concurrent writers) number from source × SOURCE_STRIDE + 1; each source is in order. */
export const SOURCE_STRIDE = 1_000_000_000;

/** What the delivery check found. */
export interface DeliveryCheck {
  readonly received: number;
  /** Messages skipped over (a later number arrived first). */
  readonly gaps: number;
  /** Messages received again or out of order. */
  readonly duplicates: number;
  /** Messages never received at the end of a stream. */
  readonly missing: number;
}

/**
 * Tracks, per stream (a socket and topic), the next sequence number expected. An unordered check
 * (for messages whose order is not promised, such as joins of different presence members) counts
 * only duplicates and missing numbers.
 */
export class SequenceCheck {
  private readonly next = new Map<string, number>();
  private readonly seen = new Map<string, Set<number>>();
  private readonly first = new Map<string, number>();
  private receivedCount = 0;
  private gapCount = 0;
  private duplicateCount = 0;

  constructor(private readonly ordered = true) {}

  /** Expects `stream` to start at `first` (otherwise it starts at 1). */
  expect(stream: string, first: number): void {
    this.next.set(stream, first);
    this.first.set(stream, first);
  }

  /** Records message number `seq` of `stream`. */
  record(stream: string, seq: number): void {
    this.receivedCount += 1;
    if (!this.ordered) {
      const seen = this.seen.get(stream) ?? new Set<number>();
      this.seen.set(stream, seen);
      if (seen.has(seq)) this.duplicateCount += 1;
      seen.add(seq);
      this.next.set(stream, Math.max(this.next.get(stream) ?? 1, seq + 1));
      return;
    }
    const expected = this.next.get(stream) ?? 1;
    if (seq < expected) {
      this.duplicateCount += 1;
      return;
    }
    if (seq > expected) this.gapCount += seq - expected;
    this.next.set(stream, seq + 1);
  }

  /** The findings, counting as missing every message up to `lastSent` of each stream not yet received. */
  result(lastSent: (stream: string) => number): DeliveryCheck {
    let missing = 0;
    for (const [stream, next] of this.next) {
      const first = this.first.get(stream) ?? 1;
      missing += this.ordered ? Math.max(0, lastSent(stream) - (next - 1)) : Math.max(0, lastSent(stream) - first + 1 - (this.seen.get(stream)?.size ?? 0));
    }
    return { received: this.receivedCount, gaps: this.gapCount, duplicates: this.duplicateCount, missing };
  }

  /** Streams seen so far. */
  streams(): string[] {
    return [...this.next.keys()];
  }

  /** The next number expected on a stream (1 when none arrived yet). */
  expected(stream: string): number {
    return this.next.get(stream) ?? 1;
  }
}
