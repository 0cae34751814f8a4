// Channel lookups of joins (those asked for while one is in flight are answered together by the next query),
// and the creation of public channels on first join (joins racing to create one channel share one creation;
// such a channel is marked as created by a join, so an operator creating that name takes it over).
import { createJoinChannel, findChannel, findChannels, isUserError, type Channel, type Pool } from '@nself/db';
import { Batches } from '../batches.js';

/**
 * Reads channels by slug for joins. Nothing is kept between lookups: each is answered by a query sent
 * after it was asked, so a channel deleted or made private (by the CLI, SQL or another process) is seen
 * by the next join; what is saved is the query per join when many clients join at once (one query is
 * in flight at a time, and it answers every lookup that arrived while the previous one ran).
 */
export class ChannelDirectory {
  /** Lookups by slug: those asked in one turn, or while a query is in flight, are answered by the next query together. */
  private readonly lookups = new Batches<string, Channel | null>({
    start: 'next-turn',
    run: async (batch) => {
      const found = await findChannels(this.pool, [...new Set(batch.map(({ request }) => request))], { exact: true });
      for (const waiting of batch) waiting.resolve(found.get(waiting.request) ?? null);
    },
  });
  /** Channel name → the creation in flight of that public channel. */
  private readonly creating = new Map<string, Promise<Channel | null>>();

  constructor(private readonly pool: Pool) {}

  /**
   * Creates the channel of `topic` (its slug, exactly; public, or private for the service role) for a
   * join or REST broadcast that found none, or returns the one created meanwhile (whatever its type); null when the topic is not acceptable as a channel. Joins asking while
   * a creation of the same topic is in flight share it.
   */
  createForTopic(topic: string, type: 'public' | 'private'): Promise<Channel | null> {
    let creation = this.creating.get(topic);
    if (!creation) {
      creation = this.create(topic, type).finally(() => this.creating.delete(topic));
      this.creating.set(topic, creation);
    }
    return creation;
  }

  /** The channel whose slug is exactly `slug` (or whose id it is), null when there is none. */
  find(slug: string): Promise<Channel | null> {
    return this.lookups.request(slug);
  }

  private async create(topic: string, type: 'public' | 'private'): Promise<Channel | null> {
    try {
      const created = await createJoinChannel(this.pool, topic, type);
      if (created) return created;
    } catch (error) {
      if (!isUserError(error) && !isCheckViolation(error)) throw error;
    }
    // Another join (or process) created it first, or the topic is not acceptable as a channel.
    return findChannel(this.pool, topic, { exact: true });
  }
}

function isCheckViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23514';
}
