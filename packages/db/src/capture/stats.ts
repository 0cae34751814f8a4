// The table capture sections of `nself realtime stats`: subscriptions, log size and sequencing progress; the replication slot's lag.
import type { Queryable } from '../queryable.js';
import { registerStatsSection, type StatsSection } from '../stats.js';
import { readSlotHealth } from './wal/slot-health.js';

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

/** The capture path and the replication slot: whether a consumer reads it, and how far behind it is in bytes and seconds. */
export const walSlotStatsSection: StatsSection = {
  name: 'replication_slot',
  title: 'Replication slot',
  async collect(db: Queryable) {
    const { path, slot } = await readSlotHealth(db);
    return {
      columns: ['path', 'slot', 'exists', 'active', 'lag_bytes', 'retained_bytes', 'seconds_since_read', 'wal_status'],
      rows: [
        {
          path,
          slot: slot.name,
          exists: slot.exists,
          active: slot.active,
          lag_bytes: slot.lagBytes,
          retained_bytes: slot.retainedBytes,
          seconds_since_read: slot.secondsSinceRead === null ? null : Math.round(slot.secondsSinceRead),
          wal_status: slot.walStatus,
        },
      ],
    };
  },
};

registerStatsSection(captureStatsSection);
registerStatsSection(walSlotStatsSection);
