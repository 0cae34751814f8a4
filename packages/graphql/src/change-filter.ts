// Which committed changes can change a live query's result: every change to a table it reads through a relationship or a view, only matching rows of the table a root field selects from.
import { getArgumentValues, type FieldNode, type GraphQLField, type GraphQLResolveInfo } from 'graphql';
import type { CommittedChange } from './changes.js';
import { meaningOf, tableKey, type Statement } from './compile.js';
import { keyMatch, whereMatch, type RowMatch } from './row-match.js';

/** How changes can affect one root field's result. */
export interface FieldReads {
  /** Tables (by `tableKey`) any change of which may change the result; null: every change to any watched table may (the field reads a view, whose changes arrive under the tables it reads). */
  readonly always: ReadonlySet<string> | null;
  /** The table the field reads once, at its root, and the condition a changed row must be able to meet to change the result. */
  readonly rooted?: { readonly table: string; readonly match: RowMatch };
}

/**
 * What changes can do to the result of the root field `info`, compiled as `statement`. Its result is
 * a function of the rows of its table that meet its `where` (or `_by_pk` key), whatever its limit,
 * order or offset: a row that meets it neither before nor after a change cannot change the result,
 * unless the table is read again below the root (a relationship to the same table, or a condition
 * through one), where the row may be any row.
 */
export function fieldReads(info: Pick<GraphQLResolveInfo, 'parentType' | 'fieldName' | 'fieldNodes' | 'variableValues'>, statement: Statement): FieldReads {
  const field = info.parentType.getFields()[info.fieldName] as GraphQLField<unknown, unknown>;
  const meaning = meaningOf(field);
  if (!('relation' in meaning) || meaning.kind === 'stream' || !meaning.relation.info.isTable) return { always: null };
  const { relation } = meaning;
  const root = tableKey({ schema: relation.info.schema, table: relation.info.name });
  const tables = new Set(statement.reads.keys());
  if (statement.reads.get(root) !== 1) return { always: tables };
  tables.delete(root);
  const args = getArgumentValues(field, info.fieldNodes[0] as FieldNode, info.variableValues);
  const match = meaning.kind === 'by_pk' ? keyMatch(relation, args) : whereMatch(relation, args['where'] as Record<string, unknown> | null | undefined);
  return { always: tables, rooted: { table: root, match } };
}

/** Decides, change by change, whether a live query must run again: when any of its root fields may see a different result. */
export class ChangeFilter {
  constructor(private readonly fields: readonly FieldReads[]) {}

  /** False only when no root field's result can differ after `change`. */
  mayAffect(change: CommittedChange): boolean {
    const table = tableKey(change);
    return this.fields.some((field) => field.always === null || field.always.has(table) || (field.rooted?.table === table && changeMayMatch(field.rooted.match, change)));
  }
}

/**
 * Whether the row a change inserted, or the row it updated or deleted (before or after), may meet
 * `match`. A row the log does not hold (the old row of a TRUNCATE) may; so may a row missing a
 * column the condition reads, such as the old row of an UPDATE or DELETE logged from the write-ahead
 * log under the default replica identity, which holds only the key.
 */
function changeMayMatch(match: RowMatch, change: CommittedChange): boolean {
  const mayMeet = (row: Readonly<Record<string, unknown>> | null) => {
    if (!row) return true;
    const truth = match(row);
    return truth === 'true' || truth === 'unknown';
  };
  if (change.operation === 'INSERT') return mayMeet(change.new);
  if (change.operation === 'UPDATE') return mayMeet(change.new) || mayMeet(change.old);
  if (change.operation === 'DELETE') return mayMeet(change.old);
  return true;
}
