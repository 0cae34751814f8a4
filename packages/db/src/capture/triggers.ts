// Generates and installs the capture trigger function and the per-event triggers of a subscribed table.
import { escapeIdentifier, escapeLiteral } from 'pg';
import type { Queryable } from '../queryable.js';
import type { CaptureFilter } from './capture-filter.js';
import { whenCondition } from './capture-filter-sql.js';
import type { TableDescription } from './table-description.js';
import { CAPTURE_EVENTS, triggerName, type CaptureEvent, type CaptureMode, type TableName } from './names.js';

/** Everything needed to generate the triggers of one subscription. */
export interface CaptureSpec {
  readonly subscriptionId: string;
  readonly table: TableDescription;
  readonly functionName: string;
  readonly channel: string;
  readonly events: readonly CaptureEvent[];
  readonly filter: CaptureFilter | null;
  readonly capture: CaptureMode;
  /**
   * Notify mode: the table's channel carries the seed's payload with the changed rows (a table an
   * operator subscribed from the CLI: any database login may read it). Otherwise it carries only
   * where the change is in the log.
   */
  readonly notifyRows: boolean;
}

/** NOTIFY refuses payloads of 8000 bytes or more; larger changes send a pointer to the log row. */
const NOTIFY_PAYLOAD_LIMIT = 8000;

/**
 * Creates (or replaces) the trigger function and exactly the triggers for `spec.events`, dropping
 * triggers of events no longer wanted. Run inside a transaction so a failure leaves nothing half done.
 */
export async function installCapture(db: Queryable, spec: CaptureSpec): Promise<void> {
  await db.query(triggerFunctionSql(spec));
  await db.query(`REVOKE ALL ON FUNCTION realtime.${escapeIdentifier(spec.functionName)}() FROM PUBLIC`);
  await dropTriggers(db, spec.table);
  for (const event of spec.events) await db.query(triggerSql(spec, event));
}

/** Drops every capture trigger of `table` (if the table still exists) and the trigger function. */
export async function removeCapture(db: Queryable, table: TableName, functionName: string): Promise<void> {
  const exists = await db.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [qualified(table)]);
  if (exists.rows[0]?.exists) await dropTriggers(db, table);
  await db.query(`DROP FUNCTION IF EXISTS realtime.${escapeIdentifier(functionName)}()`);
}

/** The events whose capture trigger is present on `table`, or null when the table does not exist. */
export async function installedEvents(db: Queryable, table: TableName): Promise<CaptureEvent[] | null> {
  const { rows } = await db.query<{ tgname: string | null; exists: boolean }>(
    `SELECT t.tgname, to_regclass($1) IS NOT NULL AS exists
       FROM (SELECT 1) AS one LEFT JOIN pg_trigger t ON t.tgrelid = to_regclass($1) AND NOT t.tgisinternal`,
    [qualified(table)],
  );
  if (!rows[0]?.exists) return null;
  const names = new Set(rows.map((row) => row.tgname));
  return CAPTURE_EVENTS.filter((event) => names.has(triggerName(event, table)));
}

async function dropTriggers(db: Queryable, table: TableName): Promise<void> {
  for (const event of CAPTURE_EVENTS) {
    await db.query(`DROP TRIGGER IF EXISTS ${escapeIdentifier(triggerName(event, table))} ON ${qualified(table)}`);
  }
}

function qualified(table: TableName): string {
  return `${escapeIdentifier(table.schema)}.${escapeIdentifier(table.table)}`;
}

function triggerSql(spec: CaptureSpec, event: CaptureEvent): string {
  const head = `CREATE TRIGGER ${escapeIdentifier(triggerName(event, spec.table))} AFTER ${event} ON ${qualified(spec.table)}`;
  const call = `EXECUTE FUNCTION realtime.${escapeIdentifier(spec.functionName)}()`;
  if (event === 'TRUNCATE') return `${head} FOR EACH STATEMENT ${call}`;
  if (!spec.filter) return `${head} FOR EACH ROW ${call}`;
  const onNew = whenCondition(spec.table, spec.filter, 'NEW');
  const onOld = whenCondition(spec.table, spec.filter, 'OLD');
  // An UPDATE is news when the row matched before or matches now (it entered or left the filter).
  const condition = event === 'INSERT' ? onNew : event === 'DELETE' ? onOld : `(${onNew}) OR (${onOld})`;
  return `${head} FOR EACH ROW WHEN (${condition}) ${call}`;
}

/**
 * The trigger function: writes the change to realtime.changes (unless the WAL path is set up, which
 * writes the log itself) and, in notify mode, sends on the
 * table's channel the seed's payload (`notifyRows`), or a pointer to the log row when the rows are
 * not to be sent or would not fit. In notify mode a synchronously committing transaction under READ COMMITTED marks the row `at_commit`,
 * to position it as it commits (realtime.position_at_commit); any other leaves it to the next writer that
 * positions or a sequencing round, and tells a feed to read the log.
 * SECURITY DEFINER with a fixed search_path, so any role that may write the table can capture; in
 * UTC, so that timestamptz values read the same whatever the writer's time zone (as hosted Supabase sends them).
 */
function triggerFunctionSql(spec: CaptureSpec): string {
  const schema = escapeLiteral(spec.table.schema);
  const table = escapeLiteral(spec.table.table);
  const header = escapeLiteral(`,"schema":${JSON.stringify(spec.table.schema)},"table":${JSON.stringify(spec.table.table)}`);
  // Without rows, the notification says only where the change is in the log, which its readers read with their own privileges.
  const payload = spec.notifyRows
    ? `
  v_payload := v_head
    || CASE WHEN v_new IS NULL THEN '' ELSE ',"new":' || v_new::text END
    || CASE WHEN v_old IS NULL THEN '' ELSE ',"old":' || v_old::text END || '}';
  IF octet_length(v_payload) >= ${NOTIFY_PAYLOAD_LIMIT} THEN
    v_payload := v_head || ',"change_id":' || v_id || ',"truncated":true}';
  END IF;`
    : `
  v_payload := v_head || ',"change_id":' || v_id || '}';`;
  const notify =
    spec.capture !== 'notify'
      ? ''
      : `
  v_head := '{"timestamp":' || floor(extract(epoch FROM now()))::bigint || ',"operation":"' || TG_OP || '"' || ${header};${payload}
  PERFORM pg_notify(${escapeLiteral(spec.channel)}, v_payload);
  IF NOT v_at_commit THEN PERFORM pg_notify('realtime:changes', '{"first":null}'); END IF;`;
  // Only a synchronous commit under READ COMMITTED positions at commit (realtime.position_at_commit says why).
  const atCommit = spec.capture === 'notify' ? "(current_setting('synchronous_commit') <> 'off' AND current_setting('transaction_isolation') = 'read committed')" : 'false';
  // With the WAL path set up, the log comes from the WAL: the function only sends its notification. The
  // check is realtime.wal_capture_active() written out: a call of that SQL function costs a third of a
  // single-row INSERT's rate, the inline query next to nothing (pgbench, PostgreSQL 15).
  const walNotify =
    spec.capture !== 'notify'
      ? ''
      : spec.notifyRows
        ? `
    v_payload := v_head
      || CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN ',"new":' || to_jsonb(NEW)::text ELSE '' END
      || CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN ',"old":' || to_jsonb(OLD)::text ELSE '' END || '}';
    IF octet_length(v_payload) >= ${NOTIFY_PAYLOAD_LIMIT} THEN v_payload := v_head || ',"truncated":true}'; END IF;
    PERFORM pg_notify(${escapeLiteral(spec.channel)}, v_payload);`
        : `
    PERFORM pg_notify(${escapeLiteral(spec.channel)}, v_head || '}');`;
  const walBranch = `
  IF current_setting('wal_level') = 'logical' AND EXISTS (SELECT 1 FROM realtime.capture_state WHERE wal_capture) THEN${
    spec.capture !== 'notify'
      ? ''
      : `
    v_head := '{"timestamp":' || floor(extract(epoch FROM now()))::bigint || ',"operation":"' || TG_OP || '"' || ${header};`
  }${walNotify}
    RETURN NULL;
  END IF;`;
  const body = `
DECLARE
  v_new jsonb;
  v_old jsonb;
  v_id bigint;
  v_head text;
  v_payload text;
  v_at_commit boolean := ${atCommit};
BEGIN${walBranch}
  IF TG_OP IN ('INSERT', 'UPDATE') THEN v_new := to_jsonb(NEW); END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN v_old := to_jsonb(OLD); END IF;
  INSERT INTO realtime.changes (subscription_id, schema_name, table_name, operation, new_record, old_record, at_commit)
  VALUES (${escapeLiteral(spec.subscriptionId)}, ${schema}, ${table}, TG_OP, v_new, v_old, v_at_commit)
  RETURNING id INTO v_id;${notify}
  RETURN NULL;
END
`;
  return `CREATE OR REPLACE FUNCTION realtime.${escapeIdentifier(spec.functionName)}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
AS ${escapeLiteral(body)}`;
}
