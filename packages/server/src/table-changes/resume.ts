// Where a subscription starts: now, or after a position a resuming client gives, with a notice when that is no longer possible.
import { currentPosition, type Queryable } from '@nself/db';
import { ResumeError } from '@nself/protocol';

/** The position to deliver after, and the `system` error to send when it is not the one asked for. */
export interface StartPoint {
  readonly position: number;
  readonly notice: string | undefined;
}

/**
 * The start of a subscription. Without `after` it is the newest position now (call it once capture
 * is in place, so every later change is delivered). With `after` it is that position when every
 * change since is still in the log; otherwise the notice says from where delivery resumes instead.
 */
export async function startPoint(db: Queryable, after: number | undefined): Promise<StartPoint> {
  const latest = await currentPosition(db);
  if (after === undefined) return { position: latest, notice: undefined };
  if (after > latest) {
    return { position: latest, notice: ResumeError.changesAhead(after, latest) };
  }
  const { rows } = await db.query<{ earliest: string | null; gap: string | null; reason: string | null }>(
    `SELECT (SELECT min(position) FROM realtime.changes WHERE position IS NOT NULL) AS earliest, wal_gap_after AS gap, wal_gap_reason AS reason
       FROM realtime.capture_state`,
  );
  const earliest = rows[0]?.earliest === null || rows[0]?.earliest === undefined ? latest + 1 : Number(rows[0].earliest);
  const gap = rows[0]?.gap === null || rows[0]?.gap === undefined ? undefined : Number(rows[0].gap);
  if (gap !== undefined && after < gap) {
    return {
      position: after,
      notice: ResumeError.changesMayBeMissing(gap, rows[0]?.reason ?? 'the replication slot was made again', after),
    };
  }
  if (after + 1 >= earliest) return { position: after, notice: undefined };
  return {
    position: earliest - 1,
    notice: ResumeError.changesNotRetained(after, earliest - 1),
  };
}
