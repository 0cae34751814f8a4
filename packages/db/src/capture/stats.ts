// The table capture section of `nself realtime stats`: subscriptions, log size and sequencing progress.
import type { Queryable } from '../queryable.js';
import { registerStatsSection, type StatsSection } from '../stats.js';

/** Capture figures: subscriptions by mode, the newest position, changes waiting to be sequenced, log volume. */
export const captureStatsSection: StatsSection = {
  name: 'table_capture',
  title: 'Table capture',
  async collect(db: Queryable) {
    const { rows } = await db.query<Record<string, unknown>>(
      `SELECT (SELECT count(*) FROM realtime.subscriptions)::int AS subscriptions,
              (SELECT count(*) FROM realtime.subscriptions WHERE capture = 'notify')::int AS notify,
              (SELECT count(*) FROM realtime.subscriptions WHERE capture = 'poll')::int AS poll,
              (SELECT coalesce(sum(changes_seen), 0) FROM realtime.subscription_counts())::bigint AS changes_seen,
              (SELECT last_position FROM realtime.capture_state) AS last_position,
              (SELECT count(*) FROM realtime.changes WHERE position IS NULL)::int AS pending,
              (SELECT count(*) FROM realtime.changes WHERE position IS NOT NULL AND changed_at >= now() - interval '24 hours')::int AS changes_24h,
              (SELECT min(changed_at) FROM realtime.changes WHERE position IS NOT NULL) AS oldest_kept`,
    );
    const numeric = rows.map((row) => ({ ...row, changes_seen: Number(row.changes_seen), last_position: Number(row.last_position) }));
    return {
      columns: ['subscriptions', 'notify', 'poll', 'changes_seen', 'last_position', 'pending', 'changes_24h', 'oldest_kept'],
      rows: numeric,
    };
  },
};

registerStatsSection(captureStatsSection);
