// Decides between the WAL and trigger capture paths, and sets up the WAL path: publication, slot, event trigger.
import pg, { escapeIdentifier, escapeLiteral } from 'pg';
import type { CaptureChoice } from '../../config/settings.js';
import { UserError } from '../../errors.js';
import type { Queryable } from '../../queryable.js';

/** The publication every WAL consumer of a database reads: all tables, partitions under their root. */
export const WAL_PUBLICATION = 'nself_realtime';
const EVENT_TRIGGER = 'nself_realtime_replica_identity';

/** Which capture path runs, and why. */
export interface CapturePath {
  readonly path: 'wal' | 'trigger';
  /** One line for logs and `status`: why this path, and for the trigger path, how to get the WAL path. */
  readonly reason: string;
  readonly slot: string;
  /** Set when a slot had to be made again after changes were logged from an earlier one: why, for a loud report. */
  readonly gap?: string;
}

/** The one-line fix for a database without logical decoding. */
export const WAL_LEVEL_FIX = 'ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL';

/** The replication slot name of the database `db` is connected to. */
export async function walSlotName(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ slot: string }>('SELECT realtime.wal_slot_name() AS slot');
  return rows[0]?.slot ?? '';
}

/**
 * Sets up the WAL path where the database and the role allow it, and says which path runs: the
 * publication (a superuser's to create: it covers all tables), the event trigger that keeps tables
 * writable under it, and the slot (the REPLICATION attribute). Idempotent; when something is missing
 * and cannot be made, answers the trigger path with the reason and the fix.
 */
export async function setUpCapturePath(db: Queryable, choice: CaptureChoice = 'auto'): Promise<CapturePath> {
  if (choice === 'trigger') {
    await db.query('UPDATE realtime.capture_state SET wal_capture = false WHERE wal_capture');
    return { path: 'trigger', reason: 'REALTIME_CAPTURE=trigger: table changes are captured by triggers', slot: await walSlotName(db) };
  }
  const path = await oneAtATime(db, setUpWal);
  if (choice === 'wal' && path.path !== 'wal') throw new Error(`REALTIME_CAPTURE=wal, but ${path.reason}`);
  return path;
}

/** The advisory lock under which processes starting together (workers, machines) set up the WAL path one after another. */
const SETUP_LOCK = 'nself realtime: capture setup';

/**
 * Runs `setUp` on one connection under SETUP_LOCK: a process that starts beside another finds the
 * publication and the slot that one made, instead of failing to make them again.
 */
async function oneAtATime<T>(db: Queryable, setUp: (client: Queryable) => Promise<T>): Promise<T> {
  const client = db instanceof pg.Pool ? await db.connect() : db;
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [SETUP_LOCK]);
    try {
      return await setUp(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [SETUP_LOCK]);
    }
  } finally {
    if (client !== db) (client as pg.PoolClient).release();
  }
}

/**
 * The superuser's part of the WAL path, for `nself realtime init`: the publication and the event
 * trigger, so that a server running as a plain role with the REPLICATION attribute can make the slot.
 * Makes no slot (WAL is kept only once a consumer is about to read it). Returns one line to print.
 */
export async function publishForWal(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ wal_level: string; superuser: boolean; publication: boolean }>(
    `SELECT current_setting('wal_level') AS wal_level, (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS superuser,
            EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1) AS publication`,
    [WAL_PUBLICATION],
  );
  const state = rows[0];
  if (state?.wal_level !== 'logical')
    return `Table changes: wal_level is ${state?.wal_level ?? 'unknown'}, so they will be captured by triggers (for capture from the write-ahead log: ${WAL_LEVEL_FIX}).`;
  if (!state.superuser) {
    return state.publication
      ? `Table changes: the publication ${WAL_PUBLICATION} exists; a server reads them from the write-ahead log.`
      : `Table changes: run \`nself realtime init\` once as a superuser to create the publication ${WAL_PUBLICATION} (FOR ALL TABLES), or they are captured by triggers.`;
  }
  if (!state.publication) await createPublication(db);
  await keepTablesWritable(db);
  return `Table changes: publication ${WAL_PUBLICATION} ready; a server reads them from the write-ahead log.`;
}

async function setUpWal(db: Queryable): Promise<CapturePath> {
  const { rows } = await db.query<{
    wal_level: string;
    slot: string;
    role: string;
    superuser: boolean;
    replication: boolean;
    publication: boolean;
    slot_exists: boolean;
    plugin: string | null;
  }>(
    `SELECT current_setting('wal_level') AS wal_level, realtime.wal_slot_name() AS slot, current_user AS role,
             r.rolsuper AS superuser, r.rolsuper OR r.rolreplication AS replication,
             EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1) AS publication,
             s.slot_name IS NOT NULL AS slot_exists, s.plugin
        FROM pg_catalog.pg_roles AS r
        LEFT JOIN pg_catalog.pg_replication_slots AS s ON s.slot_name = realtime.wal_slot_name()
       WHERE r.rolname = current_user`,
    [WAL_PUBLICATION],
  );
  const state = rows[0];
  if (!state) throw new Error('the current role is not in pg_roles');
  const { slot } = state;
  const noReplication = `the role ${state.role} has no REPLICATION attribute to read the slot ${slot} (ALTER ROLE ${escapeIdentifier(state.role)} REPLICATION)`;
  let gap: string | undefined;
  const trigger = (reason: string): CapturePath => ({ path: 'trigger', reason, slot });
  if (state.wal_level !== 'logical') {
    await db.query('UPDATE realtime.capture_state SET wal_capture = false WHERE wal_capture');
    return trigger(`wal_level is ${state.wal_level}, not logical: table changes are captured by triggers, at a cost to every write (${WAL_LEVEL_FIX})`);
  }
  if (!state.publication) {
    if (!state.superuser)
      return trigger(`the publication ${WAL_PUBLICATION} does not exist and only a superuser may create it (FOR ALL TABLES): run \`nself realtime init\` once as a superuser`);
    await createPublication(db);
  }
  if (state.superuser) await keepTablesWritable(db);
  if (!state.slot_exists) {
    if (!state.replication) return trigger(noReplication);
    await db.query(`SELECT pg_catalog.pg_create_logical_replication_slot(${escapeLiteral(slot)}, 'pgoutput')`);
    // A new slot counts as read now: its age without a consumer is measured from here (`staleSlotWarning`).
    await db.query('UPDATE realtime.capture_state SET wal_consumer_seen_at = now()');
    gap = await recordGap(db, `the replication slot ${slot} was missing (dropped) and was made again: changes committed while there was none are not in the log`);
  } else if (state.plugin !== 'pgoutput') {
    return trigger(`the replication slot ${slot} exists with the plugin ${state.plugin ?? 'none'}, not pgoutput; drop it (\`nself realtime cleanup --slots\`)`);
  }
  if (!state.replication) return trigger(noReplication);
  await db.query('UPDATE realtime.capture_state SET wal_capture = true WHERE NOT wal_capture');
  return {
    path: 'wal',
    reason: `wal_level is logical: table changes are read from the write-ahead log (slot ${slot}, publication ${WAL_PUBLICATION})`,
    slot,
    ...(gap ? { gap } : {}),
  };
}

/** The publication every WAL consumer of the database reads: all tables, partitions under their root. */
async function createPublication(db: Queryable): Promise<void> {
  await db.query(`CREATE PUBLICATION ${escapeIdentifier(WAL_PUBLICATION)} FOR ALL TABLES WITH (publish_via_partition_root = true)`);
}

/**
 * A publication FOR ALL TABLES refuses UPDATE and DELETE on tables without a replica identity: give
 * existing ones REPLICA IDENTITY FULL, and make the event trigger that does so for tables to come.
 */
async function keepTablesWritable(db: Queryable): Promise<void> {
  const { rows } = await db.query<{ exists: boolean }>('SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = $1) AS exists', [EVENT_TRIGGER]);
  if (rows[0]?.exists) return;
  const { rows: tables } = await db.query<{ name: string }>(
    `SELECT c.oid::regclass::text AS name FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p' AND c.relreplident = 'd'
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index AS i WHERE i.indrelid = c.oid AND i.indisprimary)
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
  );
  for (const table of tables) await db.query(`ALTER TABLE ${table.name} REPLICA IDENTITY FULL`);
  await db.query(`CREATE EVENT TRIGGER ${escapeIdentifier(EVENT_TRIGGER)} ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE') EXECUTE FUNCTION realtime.keep_replica_identity()`);
}

/**
 * Changes after the newest position may be missing from the log (a slot dropped, lost or made again
 * after changes were logged from an earlier one): a resume from before here is answered as unavailable.
 */
export async function recordGap(db: Queryable, reason: string): Promise<string | undefined> {
  const { rowCount } = await db.query(
    `UPDATE realtime.capture_state SET wal_gap_after = last_position, wal_gap_reason = $1, wal_commit_lsn = NULL, wal_change_index = 0
      WHERE wal_commit_lsn IS NOT NULL`,
    [reason],
  );
  return rowCount ? reason : undefined;
}

/** What `dropWalSlot` dropped: the slot, and the gap it recorded when changes had been logged from it. */
export interface DroppedSlot {
  readonly slot: string;
  readonly gap: string | undefined;
}

/**
 * Drops the slot and switches capture back to triggers, for a slot nobody reads (`cleanup --slots`),
 * in one transaction: nothing changes when the slot cannot be dropped. Returns undefined when there
 * is no slot. Refuses while a consumer reads it.
 */
export async function dropWalSlot(pool: pg.Pool): Promise<DroppedSlot | undefined> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ slot: string; exists: boolean; active_pid: number | null }>(
      `SELECT realtime.wal_slot_name() AS slot, s.slot_name IS NOT NULL AS exists, s.active_pid
         FROM (SELECT 1) AS one LEFT JOIN pg_catalog.pg_replication_slots AS s ON s.slot_name = realtime.wal_slot_name()`,
    );
    const state = rows[0];
    if (!state?.exists) {
      await client.query('ROLLBACK');
      return undefined;
    }
    const refusal = (pid: number | null) => new UserError(`the replication slot ${state.slot} is being read by a running server (backend pid ${pid ?? 'unknown'}); stop it first`);
    if (state.active_pid !== null) throw refusal(state.active_pid);
    await client.query('UPDATE realtime.capture_state SET wal_capture = false');
    const gap = await recordGap(client, `the replication slot ${state.slot} was dropped: changes it held and had not delivered were lost`);
    await client.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [state.slot]).catch((error: unknown) => {
      // 55006: a consumer took the slot since the check above.
      throw (error as { code?: string }).code === '55006' ? refusal(null) : error;
    });
    await client.query('COMMIT');
    return { slot: state.slot, gap };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
