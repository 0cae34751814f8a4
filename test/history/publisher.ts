// Publishes numbered broadcasts from SQL through faults: failed statements are retried, the log decides what counts.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

/** How a stream is published. */
export interface StreamOptions {
  readonly channel: string;
  /** Messages to commit in all. */
  readonly total: number;
  /** Messages per statement (each one its own offset). */
  readonly batch: number;
  /** Statements running at once, each on its own connection. */
  readonly workers: number;
  /** Pause after each statement, in ms. */
  readonly pauseMs?: number;
  /** Called after every committed statement with the number committed so far. */
  readonly progress?: (committed: number) => void;
}

/**
 * Commits `total` broadcasts through `realtime.broadcast`. A statement that fails (the database is
 * restarting) is retried after a short wait; whether its messages were committed is for the log to say.
 * Resolves with the number of messages whose statement reported success.
 */
export async function publishStream(pool: pg.Pool, options: StreamOptions): Promise<number> {
  let committed = 0;
  let next = 1;
  const worker = async () => {
    while (next <= options.total) {
      const first = next;
      const count = Math.min(options.batch, options.total - first + 1);
      next += count;
      for (;;) {
        try {
          await pool.query("SELECT realtime.broadcast($1, 'tick', jsonb_build_object('n', n), NULL) FROM generate_series($2::int, $3::int) AS n", [
            options.channel,
            first,
            first + count - 1,
          ]);
          break;
        } catch {
          await sleep(100);
        }
      }
      committed += count;
      options.progress?.(committed);
      if (options.pauseMs) await sleep(options.pauseMs);
    }
  };
  await Promise.all(Array.from({ length: options.workers }, worker));
  return committed;
}
