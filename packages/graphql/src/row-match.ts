// Whether a changed row can satisfy a root field's `where` (or `_by_pk` key), decided in JavaScript where it is sure to agree with PostgreSQL.
import type { ColumnInfo } from './catalog.js';
import type { RelationModel } from './schema.js';

/**
 * What a condition is for one row: SQL's three values (`null` is SQL NULL, which a WHERE treats as
 * false), or `unknown` when JavaScript cannot be sure what PostgreSQL would say.
 */
export type Truth = 'true' | 'false' | 'null' | 'unknown';

/** A condition on one row, given as the change log writes rows (column name → JSON value); a column the row lacks makes it `unknown`. */
export type RowMatch = (row: Readonly<Record<string, unknown>>) => Truth;

type BoolExp = Readonly<Record<string, unknown>>;

/** How values of a column compare in JavaScript exactly as in PostgreSQL, if at all. */
type ValueKind = 'integer' | 'boolean' | 'uuid' | 'text';

const INTEGER_TYPES: ReadonlySet<string> = new Set(['int2', 'int4', 'int8']);
/** Text types compared byte for byte under a deterministic collation (bpchar ignores trailing spaces and citext case, so they are left out). */
const EXACT_TEXT_TYPES: ReadonlySet<string> = new Set(['text', 'varchar']);
/**
 * Types whose value is SQL NULL exactly when the row's JSON holds null. Not json or jsonb (a JSON
 * null is not SQL NULL), nor composite types (a row of nulls IS NULL).
 */
const NULL_TESTABLE_TYPES: ReadonlySet<string> = new Set([
  ...INTEGER_TYPES,
  ...EXACT_TEXT_TYPES,
  'bool',
  'uuid',
  'bpchar',
  'citext',
  'name',
  'float4',
  'float8',
  'numeric',
  'date',
  'time',
  'timetz',
  'timestamp',
  'timestamptz',
  'interval',
  'bytea',
]);
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DECIMAL_INTEGER = /^-?[0-9]+$/;

const always =
  (truth: Truth): RowMatch =>
  () =>
    truth;

/**
 * The condition `where` (a Hasura boolean expression, variables already substituted) puts on the
 * rows of `relation`, as the compiler turns it into SQL: null entries are left out, an empty `_or`
 * or `_and` is no condition. Conditions through a relationship read another table: `unknown`.
 */
export function whereMatch(relation: Pick<RelationModel, 'columns'>, where: BoolExp | null | undefined): RowMatch {
  if (where === null || where === undefined) return always('true');
  const parts: RowMatch[] = [];
  for (const [name, value] of Object.entries(where)) {
    if (value === null || value === undefined) continue;
    if (name === '_and' || name === '_or') {
      const each = (value as BoolExp[]).map((part) => whereMatch(relation, part));
      if (each.length > 0) parts.push(name === '_and' ? allOf(each) : anyOf(each));
    } else if (name === '_not') parts.push(negation(whereMatch(relation, value as BoolExp)));
    else {
      const column = relation.columns.get(name);
      if (!column) parts.push(always('unknown'));
      else
        for (const [operator, operand] of Object.entries(value as BoolExp)) {
          if (operand !== null && operand !== undefined) parts.push(comparison(column, operator, operand));
        }
    }
  }
  return parts.length === 0 ? always('true') : allOf(parts);
}

/** The condition of a `_by_pk` field: each key column equal to its argument. */
export function keyMatch(relation: Pick<RelationModel, 'columns'>, key: Readonly<Record<string, unknown>>): RowMatch {
  return allOf(Object.entries(key).map(([name, value]) => (relation.columns.has(name) ? comparison(relation.columns.get(name) as ColumnInfo, '_eq', value) : always('unknown'))));
}

/** SQL AND: false wins over unknown, unknown over NULL. */
function allOf(parts: readonly RowMatch[]): RowMatch {
  if (parts.length === 1) return parts[0] as RowMatch;
  return (row) => {
    let result: Truth = 'true';
    for (const part of parts) {
      const truth = part(row);
      if (truth === 'false') return 'false';
      if (truth === 'unknown' || (truth === 'null' && result === 'true')) result = truth;
    }
    return result;
  };
}

/** SQL OR: true wins over unknown, unknown over NULL. */
function anyOf(parts: readonly RowMatch[]): RowMatch {
  return (row) => {
    let result: Truth = 'false';
    for (const part of parts) {
      const truth = part(row);
      if (truth === 'true') return 'true';
      if (truth === 'unknown' || (truth === 'null' && result === 'false')) result = truth;
    }
    return result;
  };
}

function negation(part: RowMatch): RowMatch {
  return (row) => {
    const truth = part(row);
    return truth === 'true' ? 'false' : truth === 'false' ? 'true' : truth;
  };
}

/** One operator of a column comparison (`_eq`, `_in`, `_is_null`, …), or `unknown` for those not decided here. */
function comparison(column: ColumnInfo, operator: string, operand: unknown): RowMatch {
  const name = column.name;
  if (operator === '_is_null') {
    if (!NULL_TESTABLE_TYPES.has(column.typeName) || typeof operand !== 'boolean') return always('unknown');
    return (row) => (!Object.hasOwn(row, name) ? 'unknown' : (row[name] === null) === operand ? 'true' : 'false');
  }
  const kind = kindOf(column);
  if (!kind) return always('unknown');
  const compare = (test: (value: string | number | boolean) => Truth): RowMatch => {
    return (row) => {
      if (!Object.hasOwn(row, name)) return 'unknown';
      const value = row[name];
      if (value === null) return 'null';
      // A row's integers are JSON numbers (ExactNumbers past 2^53); text such as "5" would be another type's value.
      const exact = kind === 'integer' && typeof value !== 'number' ? undefined : exactValue(kind, value);
      return exact === undefined ? 'unknown' : test(exact);
    };
  };
  if (operator === '_in' || operator === '_nin') {
    const list = Array.isArray(operand) ? operand.map((item) => exactValue(kind, item)) : [undefined];
    if (list.includes(undefined)) return always('unknown');
    // `x = ANY('{}')` is false even for a NULL x.
    if (list.length === 0) return always(operator === '_in' ? 'false' : 'true');
    const found = compare((value) => (list.includes(value) ? 'true' : 'false'));
    return operator === '_in' ? found : negation(found);
  }
  const other = exactValue(kind, operand);
  if (other === undefined) return always('unknown');
  const truth = (holds: boolean): Truth => (holds ? 'true' : 'false');
  if (operator === '_eq') return compare((value) => truth(value === other));
  if (operator === '_neq') return compare((value) => truth(value !== other));
  if (kind !== 'integer') return always('unknown');
  const bound = other as number;
  if (operator === '_gt') return compare((value) => truth((value as number) > bound));
  if (operator === '_gte') return compare((value) => truth((value as number) >= bound));
  if (operator === '_lt') return compare((value) => truth((value as number) < bound));
  if (operator === '_lte') return compare((value) => truth((value as number) <= bound));
  return always('unknown');
}

function kindOf(column: ColumnInfo): ValueKind | undefined {
  if (INTEGER_TYPES.has(column.typeName)) return 'integer';
  if (column.typeName === 'bool') return 'boolean';
  if (column.typeName === 'uuid') return 'uuid';
  if (EXACT_TEXT_TYPES.has(column.typeName) && column.deterministicCollation === true) return 'text';
  return undefined;
}

/**
 * `value` (an argument, or a row's JSON value) in a form where JavaScript's `===` and `<` agree with
 * PostgreSQL's comparison of the column's type; undefined when no such form is sure: integers past
 * 2^53, integers written in forms only PostgreSQL reads (`+1`, `1_000`, `0x10`), uuids not in
 * canonical form.
 */
function exactValue(kind: ValueKind, value: unknown): string | number | boolean | undefined {
  if (kind === 'integer') {
    const number = typeof value === 'string' && DECIMAL_INTEGER.test(value) ? Number(value) : value;
    return typeof number === 'number' && Number.isSafeInteger(number) ? number : undefined;
  }
  if (kind === 'boolean') return typeof value === 'boolean' ? value : undefined;
  if (typeof value !== 'string') return undefined;
  if (kind === 'uuid') return CANONICAL_UUID.test(value) ? value.toLowerCase() : undefined;
  return value;
}
