// Table subscriptions: subscribe, unsubscribe and list, keeping the triggers and realtime.subscriptions in step.
import type pg from 'pg';
import { UserError } from '../errors.js';
import type { Queryable } from '../queryable.js';
import { checkChoice } from '../validation.js';
import { parseCaptureFilter, type CaptureFilter } from './capture-filter.js';
import { validateCaptureFilter } from './capture-filter-sql.js';
import { resolveTable } from './lookup.js';
import { CAPTURE_EVENTS, displayTableName, notifyChannel, parseTableName, triggerFunctionName, type CaptureEvent, type TableName } from './names.js';
import type { CaptureMode } from './names.js';
import { installCapture, installedEvents, removeCapture } from './triggers.js';

/** What `subscribe` asks for. Events default to all four; capture defaults to notify; rows are not notified unless asked. */
export interface SubscribeRequest {
  readonly table: TableName;
  readonly events?: readonly CaptureEvent[];
  readonly filter?: string | null;
  readonly capture?: CaptureMode;
  /**
   * Notify mode: send the seed's payload, with the changed rows, on the table's channel, which any
   * database login may LISTEN to (an operator's `nself realtime subscribe`). Otherwise the channel
   * carries only where each change is in the log.
   */
  readonly notifyRows?: boolean;
}

/** One subscription as `subscriptions` shows it, with the honest state of its triggers. */
export interface SubscriptionInfo {
  readonly id: string;
  readonly table: string;
  readonly schema: string;
  readonly relation: string;
  readonly events: CaptureEvent[];
  readonly filter: string | null;
  /** `wal`: captured from the write-ahead log for the server's joins, with no trigger. */
  readonly capture: CaptureMode | 'wal';
  /** Notify mode: the table's channel carries the changed rows (see `SubscribeRequest.notifyRows`). */
  readonly notifyRows: boolean;
  readonly channel: string;
  readonly functionName: string;
  readonly createdAt: Date;
  readonly changesSeen: number;
  readonly lastChangeAt: Date | null;
  /** Notify mode: its transactions position their changes at commit and announce them on `realtime:changes`. */
  readonly announcedAtCommit: boolean;
  /** `active`, `table missing`, or which capture triggers are missing. */
  readonly state: string;
}

export interface SubscribeResult {
  readonly action: 'created' | 'updated' | 'unchanged';
  readonly subscription: SubscriptionInfo;
}

/** All events, the default of `subscribe`. */
export const DEFAULT_EVENTS: readonly CaptureEvent[] = CAPTURE_EVENTS;
const LOCK_KEY = 'nself_realtime_capture';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Parses `INSERT,UPDATE` (any case, any order); throws naming the accepted events. */
export function parseEvents(text: string): CaptureEvent[] {
  const words = text
    .split(',')
    .map((word) => word.trim().toUpperCase())
    .filter((word) => word.length > 0);
  if (words.length === 0) throw new UserError(`no events given; expected a comma-separated list of ${CAPTURE_EVENTS.join(', ')}`);
  const events = words.map((word) => checkChoice(word, CAPTURE_EVENTS, 'event'));
  return CAPTURE_EVENTS.filter((event) => events.includes(event));
}

/**
 * Subscribes a table: creates the trigger function and the triggers of the chosen events and records
 * the subscription. Running it again with the same settings changes nothing; with other settings it
 * updates the triggers. Bad input is rejected before anything is changed.
 */
export async function subscribe(pool: pg.Pool, request: SubscribeRequest): Promise<SubscribeResult> {
  const table = await resolveTable(pool, request.table);
  const filter: CaptureFilter | null = request.filter ? parseCaptureFilter(request.filter) : null;
  if (filter) await validateCaptureFilter(pool, table, filter);
  const events = CAPTURE_EVENTS.filter((event) => (request.events ?? DEFAULT_EVENTS).includes(event));
  const capture = request.capture ?? 'notify';
  const notifyRows = capture === 'notify' && request.notifyRows === true;
  return withCaptureLock(pool, async (client) => {
    const existing = await findSubscription(client, table);
    if (existing && sameSettings(existing, events, filter?.source ?? null, capture, notifyRows) && existing.state === 'active') {
      return { action: 'unchanged', subscription: existing };
    }
    const functionName = existing?.functionName ?? (await freeFunctionName(client, table));
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO realtime.subscriptions (table_name, schema_name, relation_name, events, filter, capture, function_name, notify_channel, announced_at_commit, notify_rows)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (table_name) DO UPDATE
         SET schema_name = EXCLUDED.schema_name, relation_name = EXCLUDED.relation_name,
             function_name = EXCLUDED.function_name, events = EXCLUDED.events, filter = EXCLUDED.filter,
             capture = EXCLUDED.capture, notify_channel = EXCLUDED.notify_channel,
             announced_at_commit = EXCLUDED.announced_at_commit, notify_rows = EXCLUDED.notify_rows, updated_at = now()
       RETURNING id`,
      [displayTableName(table), table.schema, table.table, events, filter?.source ?? null, capture, functionName, notifyChannel(table), capture === 'notify', notifyRows],
    );
    const id = rows[0]?.id ?? '';
    await installCapture(client, { subscriptionId: id, table, functionName, channel: notifyChannel(table), events, filter, capture, notifyRows });
    const subscription = await findSubscription(client, table);
    if (!subscription) throw new Error(`subscription of ${displayTableName(table)} vanished`);
    return { action: existing ? 'updated' : 'created', subscription };
  });
}

/** Removes a subscription given by table name or id: its triggers, its function and its row. */
export async function unsubscribe(pool: pg.Pool, target: string): Promise<SubscriptionInfo> {
  return withCaptureLock(pool, async (client) => {
    const subscription = UUID.test(target.trim()) ? (await listSubscriptions(client, { id: target.trim() }))[0] : await findSubscription(client, parseTableName(target));
    if (!subscription) {
      throw new UserError(`no subscription for ${target}; \`nself realtime subscriptions\` lists them by table and id`);
    }
    if (subscription.capture !== 'wal') await removeCapture(client, { schema: subscription.schema, table: subscription.relation }, subscription.functionName);
    await client.query('DELETE FROM realtime.subscriptions WHERE id = $1', [subscription.id]);
    return subscription;
  });
}

/** Runs `work` in a transaction holding the capture lock, so concurrent subscribes of one table take turns. */
async function withCaptureLock<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [LOCK_KEY]);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** The subscription of `table`, or undefined. */
export async function findSubscription(db: Queryable, table: TableName): Promise<SubscriptionInfo | undefined> {
  return (await listSubscriptions(db, { table }))[0];
}

/** Every subscription (or the one asked for), ordered by table, with its current state. */
export async function listSubscriptions(db: Queryable, only: { id?: string; table?: TableName } = {}): Promise<SubscriptionInfo[]> {
  const { rows } = await db.query<{
    id: string;
    table_name: string;
    schema_name: string | null;
    relation_name: string | null;
    events: string[];
    filter: string | null;
    capture: CaptureMode | 'wal';
    notify_channel: string | null;
    function_name: string | null;
    created_at: Date;
    changes_seen: string;
    last_change_at: Date | null;
    announced_at_commit: boolean;
    notify_rows: boolean;
  }>(
    `SELECT id, table_name, schema_name, relation_name, events, filter, capture, notify_channel, function_name,
            created_at, counts.changes_seen, counts.last_change_at, announced_at_commit, notify_rows
       FROM realtime.subscriptions JOIN realtime.subscription_counts() AS counts ON counts.subscription_id = id
      WHERE ($1::uuid IS NULL OR id = $1::uuid)
        AND ($2::text IS NULL OR (schema_name = $2 AND relation_name = $3) OR (schema_name IS NULL AND table_name = $4))
      ORDER BY table_name`,
    [only.id ?? null, only.table?.schema ?? null, only.table?.table ?? null, only.table ? displayTableName(only.table) : null],
  );
  const result: SubscriptionInfo[] = [];
  for (const row of rows) {
    const name = row.schema_name !== null && row.relation_name !== null ? { schema: row.schema_name, table: row.relation_name } : parseTableName(row.table_name);
    const events = row.events as CaptureEvent[];
    const installed = await installedEvents(db, name);
    const missing = installed && row.capture !== 'wal' ? events.filter((event) => !installed.includes(event)) : [];
    result.push({
      id: row.id,
      table: displayTableName(name),
      schema: name.schema,
      relation: name.table,
      events,
      filter: row.filter,
      capture: row.capture,
      notifyRows: row.notify_rows,
      channel: row.notify_channel ?? notifyChannel(name),
      functionName: row.function_name ?? triggerFunctionName(name),
      createdAt: row.created_at,
      changesSeen: Number(row.changes_seen),
      lastChangeAt: row.last_change_at,
      announcedAtCommit: row.announced_at_commit,
      state: installed === null ? 'table missing' : missing.length > 0 ? `triggers missing: ${missing.join(', ')}` : 'active',
    });
  }
  return result;
}

function sameSettings(existing: SubscriptionInfo, events: readonly CaptureEvent[], filter: string | null, capture: CaptureMode, notifyRows: boolean): boolean {
  // A notify-mode subscription from before positions at commit is installed anew to gain them.
  return (
    existing.events.join(',') === events.join(',') &&
    existing.filter === filter &&
    existing.capture === capture &&
    existing.announcedAtCommit === (capture === 'notify') &&
    existing.notifyRows === notifyRows
  );
}

/** The seed's function name, or its hashed form when another table's subscription already uses it. */
async function freeFunctionName(db: Queryable, table: TableName): Promise<string> {
  const plain = triggerFunctionName(table);
  const { rows } = await db.query('SELECT 1 FROM realtime.subscriptions WHERE function_name = $1', [plain]);
  return rows.length === 0 ? plain : triggerFunctionName(table, true);
}
