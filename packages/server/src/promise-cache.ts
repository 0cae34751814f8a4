// A bounded cache of promised answers by key, pending or settled: the oldest entry is dropped beyond the bound, one whose answer rejects at once.

/** Entries by key, newest last; `E` is whatever the caller keeps with the promised answer. */
export class PromiseCache<E> {
  private readonly entries = new Map<string, E>();

  constructor(private readonly limit: number) {}

  get(key: string): E | undefined {
    return this.entries.get(key);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Remembers `entry` as the newest for `key`; it is forgotten if `answer` rejects, and the oldest entry goes beyond the limit. */
  remember(key: string, entry: E, answer: Promise<unknown>): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    answer.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    if (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value as string);
  }
}
