// Channel lookups of joins: the lookups asked for while one is in flight are answered together by the next query.
import { findChannels, type Channel, type Pool } from '@nself/db';

interface Waiter {
  readonly resolve: (channel: Channel | null) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Reads channels by slug for joins. Nothing is kept between lookups: each is answered by a query sent
 * after it was asked, so a channel deleted or made private (by the CLI, SQL or another process) is seen
 * by the next join; what is saved is the query per join when many clients join at once (one query is
 * in flight at a time, and it answers every lookup that arrived while the previous one ran).
 */
export class ChannelDirectory {
  private waiting = new Map<string, Waiter[]>();
  private inFlight = false;

  constructor(private readonly pool: Pool) {}

  /** The channel with this slug (or id), null when there is none. */
  find(slug: string): Promise<Channel | null> {
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0 && !this.inFlight) setImmediate(() => void this.lookUpWaiting());
      const waiters = this.waiting.get(slug);
      if (waiters) waiters.push({ resolve, reject });
      else this.waiting.set(slug, [{ resolve, reject }]);
    });
  }

  /** Sends one query for every slug waiting, then again for those that came meanwhile, until none wait. */
  private async lookUpWaiting(): Promise<void> {
    this.inFlight = true;
    while (this.waiting.size > 0) {
      const batch = this.waiting;
      this.waiting = new Map();
      try {
        const found = await findChannels(this.pool, [...batch.keys()]);
        for (const [slug, waiters] of batch) for (const waiter of waiters) waiter.resolve(found.get(slug) ?? null);
      } catch (error) {
        for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(error);
      }
    }
    this.inFlight = false;
  }
}
