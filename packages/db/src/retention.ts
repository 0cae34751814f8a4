// Retention: how long each channel's log is kept (globally, or per channel in its metadata), and trimming it.
import type { Queryable } from './queryable.js';

/** The channel metadata key that overrides the global retention for one channel, e.g. `{"retention_hours": 72}`. */
export const RETENTION_METADATA_KEY = 'retention_hours';

/**
 * Deletes, in every channel, the messages up to the newest one sent before the channel's horizon
 * (its metadata's `retention_hours` when that is a number of 0 or more, else `hours`). Only a prefix
 * of each log is ever removed, so what remains has no hole. Returns how many messages were deleted.
 */
export async function trimChannelLogs(db: Queryable, hours: number): Promise<number> {
  const { rows } = await db.query<{ deleted: number }>(
    `WITH horizon AS (
       SELECT c.id,
              (SELECT max(m.channel_offset) FROM realtime.messages m
                WHERE m.channel_id = c.id
                  AND m.sent_at < now() - make_interval(secs => 3600 * CASE
                        WHEN jsonb_typeof(c.metadata -> $2) = 'number'
                        THEN CASE WHEN (c.metadata ->> $2)::numeric >= 0 THEN (c.metadata ->> $2)::numeric ELSE $1::numeric END
                        ELSE $1::numeric END)) AS upto
         FROM realtime.channels c
     ), deleted AS (
       DELETE FROM realtime.messages m USING horizon h
        WHERE m.channel_id = h.id AND m.channel_offset <= h.upto
       RETURNING 1
     ) SELECT count(*)::int AS deleted FROM deleted`,
    [hours, RETENTION_METADATA_KEY],
  );
  return rows[0]?.deleted ?? 0;
}

/** Deletes the table changes older than `hours` from the change log (through `realtime.cleanup_changes`); returns how many. */
export async function trimChangeLog(db: Queryable, hours: number): Promise<number> {
  const { rows } = await db.query<{ deleted: number }>('SELECT realtime.cleanup_changes($1) AS deleted', [hours]);
  return rows[0]?.deleted ?? 0;
}
