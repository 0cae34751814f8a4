// Writes decoded WAL changes to realtime.changes in one statement per batch: positions, rows as to_jsonb gives them, the announcement.
import { createHash } from 'node:crypto';
import { escapeIdentifier } from 'pg';
import { EXACT_JSON_TYPES } from '../../exact-json-parse.js';
import type { Queryable } from '../../queryable.js';
import type { ChangeRow } from '../feed.js';
import type { CaptureEvent } from '../names.js';
import { formatLsn, UNCHANGED_TOAST, type Lsn, type RelationColumn, type TupleValue } from './pgoutput.js';

/** A relation as the stream described it. */
export interface WalRelation {
  readonly relationId: number;
  readonly schema: string;
  readonly name: string;
  readonly columns: readonly RelationColumn[];
}

/** One change of a committed transaction, ready to be logged. */
export interface WalChange {
  /** The transaction's commit LSN and the change's place in it (1, 2, …): where it is in the WAL. */
  readonly commitLsn: Lsn;
  readonly index: number;
  readonly commitTime: Date;
  readonly operation: CaptureEvent;
  readonly relation: WalRelation;
  readonly subscriptionId: string | null;
  readonly new: readonly TupleValue[] | null;
  /** The old row (REPLICA IDENTITY FULL) or its key columns (`oldIsKey`). */
  readonly old: readonly TupleValue[] | null;
  readonly oldIsKey: boolean;
}

/** A change as the batch logged it: the log's row, with its table's access version in the batch's snapshot. */
export type LoggedRow = ChangeRow & { readonly access_version: string | null };

const JSON_TYPES = new Set([114, 3802]); // json, jsonb: their text is JSON already
/** Batches of at most this many tables run as prepared statements. */
const NAMED_UP_TO_TABLES = 2;

/**
 * A row as a JSON object of text values (json and jsonb values as themselves), for
 * jsonb_populate_record to read with the table's types; and the columns to leave out of the result:
 * unchanged TOASTed values the stream did not send, and the non-key columns of a key-only old row.
 */
export function rowText(relation: WalRelation, tuple: readonly TupleValue[], keyOnly: boolean, previous: readonly TupleValue[] | null): { text: string; absent: string[] } {
  const parts: string[] = [];
  const absent: string[] = [];
  relation.columns.forEach((column, index) => {
    let value = tuple[index] ?? null;
    if (value === UNCHANGED_TOAST) value = previous?.[index] ?? UNCHANGED_TOAST;
    if (value === UNCHANGED_TOAST || (keyOnly && !column.isKey)) {
      absent.push(column.name);
      return;
    }
    const json = value === null ? 'null' : JSON_TYPES.has(column.typeOid) ? value : JSON.stringify(value);
    parts.push(`${JSON.stringify(column.name)}:${json}`);
  });
  return { text: `{${parts.join(',')}}`, absent };
}

/**
 * Logs `changes` (in WAL order) after the newest position in one statement, records their WAL place
 * in realtime.capture_state, counts them in their subscriptions, and announces the positions on
 * `realtime:changes` at commit; returns the logged rows. Refuses (returns null) when the log already holds a change at or
 * after the first one's WAL place: another consumer wrote it. Relations named in `textual` are
 * logged with their values as text (their table is gone, or its type no longer reads them).
 */
export async function writeBatch(db: Queryable, changes: readonly WalChange[], textual: ReadonlySet<number> = new Set()): Promise<LoggedRow[] | null> {
  const first = changes[0];
  const last = changes.at(-1);
  if (!first || !last) return null;
  const relations = [...new Map(changes.map((change) => [change.relation.relationId, change.relation])).values()];
  const slot = new Map(relations.map((relation, index) => [relation.relationId, index + 1]));
  const convert = (column: string, absent: string): string => {
    const branches = relations.map((relation, index) => {
      const typed = textual.has(relation.relationId)
        ? `i.${column}`
        : `to_jsonb(jsonb_populate_record(NULL::${escapeIdentifier(relation.schema)}.${escapeIdentifier(relation.name)}, i.${column}))`;
      return `WHEN ${index + 1} THEN ${typed}`;
    });
    return `CASE WHEN i.${column} IS NULL THEN NULL ELSE (CASE i.rel ${branches.join(' ')} END) - coalesce(i.${absent}, '{}') END`;
  };
  const rows = changes.map((change) => {
    const old = change.old ? rowText(change.relation, change.old, change.oldIsKey, null) : null;
    const fresh = change.new ? rowText(change.relation, change.new, false, change.oldIsKey ? null : change.old) : null;
    return { change, old, fresh };
  });
  const text = `WITH input AS (
       SELECT * FROM unnest($1::int[], $2::text[], $3::jsonb[], $4::text[], $5::jsonb[], $6::text[], $7::uuid[], $8::timestamptz[])
         WITH ORDINALITY AS i(rel, operation, new_text, new_absent, old_text, old_absent, subscription_id, changed_at, ord)
     ), state AS (
       UPDATE realtime.capture_state
          SET last_position = last_position + $9,
              counted_through = CASE WHEN counted_through = last_position THEN last_position + $9 ELSE counted_through END,
              wal_commit_lsn = $10::pg_lsn, wal_change_index = $11, sequenced_at = now()
        WHERE wal_commit_lsn IS NULL OR (wal_commit_lsn, wal_change_index) < ($12::pg_lsn, $13)
       RETURNING last_position - $9 AS base
     ), written AS (
       INSERT INTO realtime.changes (position, subscription_id, schema_name, table_name, operation, new_record, old_record, writer_pid, changed_at)
       SELECT state.base + i.ord, i.subscription_id, ($14::text[])[i.rel], ($15::text[])[i.rel], i.operation,
              ${convert('new_text', 'new_absent::text[]')}, ${convert('old_text', 'old_absent::text[]')}, 0, i.changed_at
         FROM state, input AS i
       RETURNING position, changed_at, operation, schema_name, table_name, new_record, old_record, writer_pid, subscription_id
     ), counted AS (
       UPDATE realtime.subscriptions AS s
          SET changes_seen = s.changes_seen + totals.n, last_change_at = greatest(s.last_change_at, totals.latest)
         FROM (SELECT subscription_id, count(*) AS n, max(changed_at) AS latest FROM written GROUP BY subscription_id) AS totals
        WHERE s.id = totals.subscription_id
       RETURNING 1
     ), versions AS MATERIALIZED (
       SELECT t.schema_name, t.table_name, realtime.access_version(t.schema_name, t.table_name) AS access_version
         FROM (SELECT DISTINCT schema_name, table_name FROM written) AS t
     )
     SELECT w.*, v.access_version, (SELECT count(*) FROM counted) AS counted,
            (SELECT pg_notify('realtime:changes', json_build_object('first', base + 1, 'last', base + $9)::text) FROM state) AS announced
       FROM written AS w JOIN versions AS v USING (schema_name, table_name)
      ORDER BY w.position`;
  // Named, so that each connection plans the statement of a set of tables once (planning was half its
  // cost); only for a few tables, so that the statements a connection keeps stay few.
  const { rows: logged } = await db.query<LoggedRow>({
    ...(relations.length <= NAMED_UP_TO_TABLES ? { name: `nself_wal_batch_${createHash('sha1').update(text).digest('hex').slice(0, 16)}` } : {}),
    text,
    types: EXACT_JSON_TYPES,
    values: [
      rows.map(({ change }) => slot.get(change.relation.relationId)),
      rows.map(({ change }) => change.operation),
      rows.map(({ fresh }) => fresh?.text ?? null),
      rows.map(({ fresh }) => arrayLiteral(fresh?.absent)),
      rows.map(({ old }) => old?.text ?? null),
      rows.map(({ old }) => arrayLiteral(old?.absent)),
      rows.map(({ change }) => change.subscriptionId),
      rows.map(({ change }) => change.commitTime),
      changes.length,
      formatLsn(last.commitLsn),
      last.index,
      formatLsn(first.commitLsn),
      first.index,
      relations.map((relation) => relation.schema),
      relations.map((relation) => relation.name),
    ],
  });
  return logged.length === 0 ? null : logged;
}

/** A text[] literal of `names`, or null for none (an array of arrays cannot be unnested row by row). */
function arrayLiteral(names: readonly string[] | undefined): string | null {
  if (!names || names.length === 0) return null;
  return `{${names.map((name) => `"${name.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}
