// How the replication slot of a database stands: the capture path and why, the slot's lag in bytes and seconds, and what an operator must hear.
import type { Queryable } from '../../queryable.js';
import { formatBytes } from './bytes.js';
import { WAL_LEVEL_FIX, WAL_PUBLICATION } from './setup.js';

/** The replication slot of the database, as pg_replication_slots and the consumer's record show it. */
export interface SlotState {
  readonly name: string;
  readonly exists: boolean;
  /** A consumer is streaming it now (a server's WalConsumer), as the backend `activePid`. */
  readonly active: boolean;
  readonly activePid: number | null;
  /** pg_replication_slots.wal_status: reserved, extended, unreserved or lost. */
  readonly walStatus: string | null;
  /** WAL that may still be written before the slot is lost to max_slot_wal_keep_size, in bytes; null when unlimited. */
  readonly safeWalBytes: number | null;
  /** WAL written since the consumer last confirmed (`pg_current_wal_lsn() - confirmed_flush_lsn`), in bytes. */
  readonly lagBytes: number | null;
  /** WAL the slot keeps from being removed (`pg_current_wal_lsn() - restart_lsn`), in bytes. */
  readonly retainedBytes: number | null;
  /** Seconds since a consumer last confirmed the slot (or since it was made); null when none is recorded. */
  readonly secondsSinceRead: number | null;
}

/** The capture path of the database now and the state of its slot. */
export interface SlotHealth {
  /** `wal` while capture functions leave the log to the slot's consumer (wal_level logical and capture_state.wal_capture). */
  readonly path: 'wal' | 'trigger';
  /** Why this path; for the trigger path, what would give the WAL path. */
  readonly reason: string;
  readonly walLevel: string;
  readonly walCapture: boolean;
  /** The publication `nself_realtime` exists. */
  readonly publication: boolean;
  /** max_slot_wal_keep_size in bytes; null when it is -1 (a slot may keep any amount of WAL). */
  readonly maxSlotWalKeepBytes: number | null;
  readonly slot: SlotState;
}

interface HealthRow {
  wal_level: string;
  keep_mb: string | null;
  wal_capture: boolean;
  publication: boolean;
  slot: string;
  exists: boolean;
  active: boolean;
  active_pid: number | null;
  wal_status: string | null;
  safe_wal_size: string | null;
  lag_bytes: string | null;
  retained_bytes: string | null;
  seconds_since_read: number | null;
}

/** Reads the capture path and the slot of the database `db` is connected to. */
export async function readSlotHealth(db: Queryable): Promise<SlotHealth> {
  const { rows } = await db.query<HealthRow>(
    `SELECT current_setting('wal_level') AS wal_level,
            (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'max_slot_wal_keep_size') AS keep_mb,
            c.wal_capture, EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1) AS publication,
            realtime.wal_slot_name() AS slot, s.slot_name IS NOT NULL AS exists, coalesce(s.active, false) AS active, s.active_pid,
            s.wal_status, s.safe_wal_size::text AS safe_wal_size,
            pg_catalog.pg_wal_lsn_diff(w.lsn, s.confirmed_flush_lsn)::text AS lag_bytes,
            pg_catalog.pg_wal_lsn_diff(w.lsn, s.restart_lsn)::text AS retained_bytes,
            extract(epoch FROM clock_timestamp() - c.wal_consumer_seen_at)::float8 AS seconds_since_read
       FROM realtime.capture_state AS c
      CROSS JOIN (SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_lsn() END AS lsn) AS w
       LEFT JOIN pg_catalog.pg_replication_slots AS s ON s.slot_name = realtime.wal_slot_name()`,
    [WAL_PUBLICATION],
  );
  const row = rows[0];
  if (!row) throw new Error('realtime.capture_state has no row');
  const slot: SlotState = {
    name: row.slot,
    exists: row.exists,
    active: row.active,
    activePid: row.active_pid,
    walStatus: row.wal_status,
    safeWalBytes: numberOrNull(row.safe_wal_size),
    lagBytes: numberOrNull(row.lag_bytes),
    retainedBytes: numberOrNull(row.retained_bytes),
    secondsSinceRead: row.exists ? row.seconds_since_read : null,
  };
  const keepMb = numberOrNull(row.keep_mb);
  const path = row.wal_level === 'logical' && row.wal_capture ? 'wal' : 'trigger';
  return {
    path,
    reason: pathReason(path, row),
    walLevel: row.wal_level,
    walCapture: row.wal_capture,
    publication: row.publication,
    maxSlotWalKeepBytes: keepMb === null || keepMb < 0 ? null : keepMb * 1024 * 1024,
    slot,
  };
}

function pathReason(path: 'wal' | 'trigger', row: HealthRow): string {
  if (path === 'wal') return `table changes are read from the write-ahead log (slot ${row.slot}, publication ${WAL_PUBLICATION})`;
  if (row.wal_level !== 'logical') return `wal_level is ${row.wal_level}, not logical: table changes are captured by triggers, at a cost to every write (${WAL_LEVEL_FIX})`;
  if (!row.publication) return `the publication ${WAL_PUBLICATION} does not exist: table changes are captured by triggers until a server started as a superuser makes it`;
  if (!row.exists)
    return `there is no replication slot ${row.slot}: table changes are captured by triggers until a server starts and makes it (its role needs the REPLICATION attribute)`;
  return `the slot ${row.slot} exists but capture is not switched to it (REALTIME_CAPTURE=trigger, or the server's role lacks the REPLICATION attribute): table changes are captured by triggers`;
}

/**
 * A slot that no consumer has read for longer than `staleSeconds`: it keeps WAL until the disk is full.
 * The message names the slot, what it keeps and the command that drops it; undefined when not stale.
 */
export function staleSlotWarning(health: SlotHealth, staleSeconds: number): string | undefined {
  const { slot } = health;
  if (!slot.exists || slot.active || (slot.secondsSinceRead !== null && slot.secondsSinceRead <= staleSeconds)) return undefined;
  const since = slot.secondsSinceRead === null ? 'no consumer on record' : `had no consumer for ${Math.round(slot.secondsSinceRead)} s`;
  return (
    `the replication slot ${slot.name} has ${since} (REALTIME_SLOT_STALE_SECONDS is ${staleSeconds}) and keeps ${formatBytes(slot.retainedBytes ?? 0)} of WAL, ` +
    'which grows until the disk is full: start a server on this database to read it, or drop it with `nself realtime cleanup --slots`'
  );
}

/** Everything about the slot an operator should act on: a stale or lost slot, a missing one, no limit on the WAL it keeps. */
export function slotWarnings(health: SlotHealth, staleSeconds: number): string[] {
  const { slot } = health;
  const warnings: string[] = [];
  const stale = staleSlotWarning(health, staleSeconds);
  if (stale) warnings.push(stale);
  if (health.path === 'wal' && !slot.exists) {
    warnings.push(`the replication slot ${slot.name} is missing: table changes are not captured until a server starts and makes it again (recording the gap)`);
  }
  if (slot.walStatus === 'lost') {
    warnings.push(`the replication slot ${slot.name} is lost (it held more WAL than max_slot_wal_keep_size allows): the consumer makes it again and records the gap`);
  } else if (slot.walStatus === 'unreserved') {
    warnings.push(`the replication slot ${slot.name} holds more WAL than max_slot_wal_keep_size allows and is lost at the next checkpoint unless its consumer catches up`);
  }
  if (slot.exists && health.maxSlotWalKeepBytes === null) {
    warnings.push(
      "max_slot_wal_keep_size is -1 (unlimited): a slot nobody reads keeps WAL until the disk is full; set a limit, e.g. ALTER SYSTEM SET max_slot_wal_keep_size = '10GB'; SELECT pg_reload_conf()",
    );
  }
  return warnings;
}

function numberOrNull(text: string | null): number | null {
  return text === null ? null : Number(text);
}
