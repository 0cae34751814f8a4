// Checks a parsed capture filter against a table and turns it into a trigger WHEN condition of quoted parts only.
import { escapeIdentifier, escapeLiteral } from 'pg';
import { UserError } from '../errors.js';
import type { Queryable } from '../queryable.js';
import type { CaptureFilter, CaptureFilterCondition } from './capture-filter.js';
import { closestNames } from './lookup.js';
import type { TableColumn, TableDescription } from './table-description.js';
import { displayIdentifier, displayTableName } from './names.js';

/** Which row a condition reads: NEW for INSERT and UPDATE, OLD for UPDATE and DELETE. */
export type RowReference = 'NEW' | 'OLD';

/**
 * Checks every condition of `filter` against `table`: the column exists, each value is valid for the
 * column's type, and the comparison exists for that type. Throws a one-line error naming the problem.
 */
export async function validateCaptureFilter(db: Queryable, table: TableDescription, filter: CaptureFilter): Promise<void> {
  for (const condition of filter.conditions) {
    const column = columnOf(table, condition);
    for (const value of condition.values) {
      try {
        await db.query(`SELECT CAST($1::text AS ${column.type})`, [value]);
      } catch {
        throw new UserError(`invalid filter: '${value}' is not a valid ${column.type} for column ${displayIdentifier(column.name)}`);
      }
    }
  }
  try {
    await db.query(`SELECT 1 FROM ONLY ${escapeIdentifier(table.schema)}.${escapeIdentifier(table.table)} AS t
      WHERE ${whenCondition(table, filter, 't')} LIMIT 0`);
  } catch (error) {
    const reason = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    throw new UserError(`invalid filter "${filter.source}" for ${displayTableName(table)}: ${reason}`);
  }
}

/**
 * The condition as SQL over one row (`NEW`, `OLD`, or a table alias): quoted identifiers compared
 * with quoted literals cast to the column's own type. Nothing from the user is pasted as SQL text.
 */
export function whenCondition(table: TableDescription, filter: CaptureFilter, row: RowReference | 't'): string {
  return filter.conditions
    .map((condition) => {
      const column = columnOf(table, condition);
      const left = `${row}.${escapeIdentifier(column.name)}`;
      const constant = (value: string) => `CAST(${escapeLiteral(value)} AS ${column.type})`;
      if (condition.operator === 'in') return `(${left} IN (${condition.values.map(constant).join(', ')}))`;
      const operator = condition.operator === '!=' ? '<>' : condition.operator;
      return `(${left} ${operator} ${constant(condition.values[0] ?? '')})`;
    })
    .join(' AND ');
}

function columnOf(table: TableDescription, condition: CaptureFilterCondition): TableColumn {
  const column = table.columns.find((candidate) => candidate.name === condition.column);
  if (column) return column;
  const close = closestNames(
    condition.column,
    table.columns.map((candidate) => candidate.name),
  );
  const hint = close.length > 0 ? `did you mean ${close.map(displayIdentifier).join(', ')}?` : `columns: ${table.columns.map((c) => displayIdentifier(c.name)).join(', ')}`;
  throw new UserError(`invalid filter: ${displayTableName(table)} has no column ${displayIdentifier(condition.column)}; ${hint}`);
}
