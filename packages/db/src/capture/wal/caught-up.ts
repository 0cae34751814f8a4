// Waits until the change log holds every change committed so far, on either capture path.
import type { Queryable } from '../../queryable.js';
import { currentPosition } from '../feed.js';

const POLL_MS = 20;

/**
 * Resolves with the newest position once every change committed before the call is in the log. On
 * the trigger path that is one sequencing round; on the WAL path the log is written by the slot's
 * consumer a moment after each commit, so this waits until it has confirmed the WAL written before
 * the call. Rejects after `timeoutMs` (no consumer running, say).
 */
export async function caughtUp(db: Queryable, timeoutMs = 10_000): Promise<number> {
  const { rows } = await db.query<{ wal: boolean; lsn: string }>('SELECT realtime.wal_capture_active() AS wal, pg_catalog.pg_current_wal_lsn()::text AS lsn');
  const state = rows[0];
  if (state?.wal) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows: slot } = await db.query<{ done: boolean }>(
        'SELECT coalesce(confirmed_flush_lsn >= $1::pg_lsn, false) AS done FROM pg_catalog.pg_replication_slots WHERE slot_name = realtime.wal_slot_name()',
        [state.lsn],
      );
      if (slot[0]?.done) break;
      if (Date.now() > deadline)
        throw new Error(
          `the change log did not catch up with the write-ahead log (${state.lsn}) within ${timeoutMs} ms: is a server or \`nself realtime listen\` reading the slot?`,
        );
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
  return currentPosition(db);
}
