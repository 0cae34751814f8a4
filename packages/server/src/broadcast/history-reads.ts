// Reads of channel logs for joins and REST history: a few at a time, identical ones shared, each page bounded in rows and bytes.
import { readLogPage, type Message as StoredMessage, type Pool } from '@nself/db';
import { SharedFrames } from '../shared-frames.js';
import { sharedLoads } from '../batches.js';

/** The payload bytes at which a page of history ends (REST pages, resume and replay streams, the broadcast feed's reads). */
export const HISTORY_PAGE_BYTES = 1_048_576;
/** Most messages in one page of a join's stream. */
const STREAM_PAGE_ROWS = 500;
/** History reads that run at once; the others wait their turn, so memory spent on pages stays bounded. */
const MAX_CONCURRENT_HISTORY_READS = 4;

/** Lets at most `size` tasks run at once, the others in the order they asked. */
class Gate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running += 1;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}

/**
 * Which stored messages a join streams, after a cursor: every message after `anyTimeAfter`, and at or
 * below it those sent at or after `since` (Supabase's replay window; none without `since`).
 */
export interface StreamRange {
  readonly anyTimeAfter: number;
  readonly since: Date | undefined;
}

/** A page of a join's stream: each message with its frames, shared by the joins that read the page together. */
export interface StreamPage {
  readonly entries: ReadonlyArray<{ readonly message: StoredMessage; readonly frames: SharedFrames }>;
}

/** The server's reads of channel logs. */
export class HistoryReads {
  private readonly pages = sharedLoads<StreamPage>();
  private readonly gate = new Gate(MAX_CONCURRENT_HISTORY_READS);

  constructor(private readonly pool: Pool) {}

  /** Runs a read of history when its turn comes. */
  run<T>(read: () => Promise<T>): Promise<T> {
    return this.gate.run(read);
  }

  /** The next page of a join's stream after `cursor`, shared (with each message's frames) by the joins at the same place at once. */
  streamPage(channelId: string, range: StreamRange, cursor: number): Promise<StreamPage> {
    const key = [channelId, cursor, range.anyTimeAfter, range.since?.getTime() ?? ''].join('\u0000');
    return this.pages.request(key, async () => {
      const page = await this.run(() =>
        readLogPage(this.pool, channelId, { afterOffset: cursor, since: range.since, sinceOnlyUpTo: range.anyTimeAfter, limit: STREAM_PAGE_ROWS, maxBytes: HISTORY_PAGE_BYTES }),
      );
      return { entries: page.messages.map((message) => ({ message, frames: new SharedFrames() })) };
    });
  }
}
