// Evaluates binding filters in PostgreSQL, with each value cast to its column's type, for a batch of rows at once.
import { escapeIdentifier } from 'pg';
import { stringifyExact, type Queryable, type TableDescription } from '@nself/db';
import type { BindingFilterCondition, BindingFilterOperator } from '@nself/protocol';

const COMPARISONS: Record<Exclude<BindingFilterOperator, 'in' | 'is' | keyof typeof PATTERNS>, string> = {
  eq: '=',
  neq: '<>',
  lt: '<',
  lte: '<=',
  gt: '>',
  gte: '>=',
  isdistinct: 'IS DISTINCT FROM',
};
/** Operators that match the column's text against a pattern: SQL LIKE patterns, POSIX regular expressions. */
const PATTERNS = { like: 'LIKE', ilike: 'ILIKE', match: '~', imatch: '~*' } as const;
const IS_TESTS: Record<string, string> = { null: 'IS NULL', true: 'IS TRUE', false: 'IS FALSE', unknown: 'IS UNKNOWN' };

/**
 * For each row (a captured record) and each filter (a list of conditions, all of which must hold),
 * whether the row passes: `result[row][filter]`. A NULL column value fails ordinary comparisons.
 * Values reach PostgreSQL as bound JSON and are converted by the column's own input function
 * (`jsonb_populate_record`), so `id=eq.7` compares integers and `at=gt.2026-01-01` timestamps.
 */
export async function evaluateFilters(
  db: Queryable,
  table: TableDescription,
  rows: readonly Record<string, unknown>[],
  filters: readonly (readonly BindingFilterCondition[])[],
): Promise<boolean[][]> {
  if (rows.length === 0 || filters.length === 0) return rows.map(() => []);
  const params: unknown[] = [rows.map((row) => stringifyExact(row))];
  const tests = filters.map((conditions) =>
    conditions.length === 0 ? 'true' : `coalesce(${conditions.map((condition) => conditionSql(table, condition, params)).join(' AND ')}, false)`,
  );
  const { rows: results } = await db.query<{ passes: boolean[] }>(
    `SELECT ARRAY[${tests.join(', ')}]::boolean[] AS passes
       FROM unnest($1::jsonb[]) WITH ORDINALITY AS u(doc, idx)
       CROSS JOIN LATERAL jsonb_populate_record(NULL::${table.sqlName}, u.doc) AS r
      ORDER BY u.idx`,
    params,
  );
  return results.map((result) => result.passes);
}

/**
 * Checks that every condition can be evaluated on `table`: each value must be valid input for its
 * column's type and the operator must exist for it. Throws PostgreSQL's error otherwise.
 */
export async function checkFilterValues(db: Queryable, table: TableDescription, conditions: readonly BindingFilterCondition[]): Promise<void> {
  await evaluateFilters(db, table, [{}], [conditions]);
}

/** One condition as SQL over the row `r`, its values bound in `params`; `not.` wraps it in NOT. */
function conditionSql(table: TableDescription, condition: BindingFilterCondition, params: unknown[]): string {
  const test = positiveSql(table, condition, params);
  return condition.negated ? `(NOT ${test})` : test;
}

function positiveSql(table: TableDescription, condition: BindingFilterCondition, params: unknown[]): string {
  const column = escapeIdentifier(condition.column);
  const left = `r.${column}`;
  const { operator } = condition;
  if (operator === 'is') return `(${left} ${IS_TESTS[condition.values[0] ?? 'null']})`;
  if (operator === 'in') {
    params.push(JSON.stringify(condition.values.map((value) => ({ [condition.column]: value }))));
    return `(${left} = ANY (ARRAY(SELECT x.${column} FROM jsonb_populate_recordset(NULL::${table.sqlName}, $${params.length}::jsonb) AS x)))`;
  }
  if (operator in PATTERNS) {
    // As PostgREST reads them, `*` in a like pattern stands for `%`.
    const pattern = condition.values[0] ?? '';
    params.push(operator === 'like' || operator === 'ilike' ? pattern.replace(/\*/g, '%') : pattern);
    return `(${left}::text ${PATTERNS[operator as keyof typeof PATTERNS]} $${params.length}::text)`;
  }
  params.push(JSON.stringify({ [condition.column]: condition.values[0] }));
  return `(${left} ${COMPARISONS[operator as keyof typeof COMPARISONS]} (jsonb_populate_record(NULL::${table.sqlName}, $${params.length}::jsonb)).${column})`;
}
