// The postgres_changes filter grammar (PROTOCOL.md §7.2): `column=op.value` conditions joined by top-level commas.
import { Refusal } from '../refusal.js';

/** Operators a binding filter accepts. */
export const FILTER_OPERATORS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in', 'is'] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

/** Values `is.` accepts. */
export const IS_VALUES = ['null', 'true', 'false', 'unknown'] as const;

/** One condition: `column op value`; `in` has several values, every other operator one. */
export interface FilterCondition {
  readonly column: string;
  readonly operator: FilterOperator;
  readonly values: readonly string[];
}

/** How large a filter may be: values in one `in.(…)` list, and characters in all. */
export interface FilterLimits {
  readonly maxFilterValues: number;
  readonly maxFilterLength: number;
}

const ACCEPTED = `expected column=op.value joined by commas, with op one of ${FILTER_OPERATORS.join(', ')} (e.g. id=eq.1 or status=in.(open,closed))`;

/**
 * Parses a binding's `filter`, such as `user_id=eq.42,status=in.(open,"on hold")`. An empty or
 * blank filter has no conditions. Values may be double-quoted (`name=eq."a,b"`, `\` escapes).
 * A filter longer than `limits.maxFilterLength` characters, or an `in` list of more than
 * `limits.maxFilterValues` values, is refused (filters are judged for every change of the table).
 */
export function parseChangeFilter(filter: string | undefined, limits: FilterLimits): FilterCondition[] {
  if (filter === undefined || filter.trim() === '') return [];
  if (filter.length > limits.maxFilterLength) {
    throw new Refusal('InvalidFilter', `filter is too long: ${filter.length} characters. Maximum ${limits.maxFilterLength}`);
  }
  return splitTopLevel(filter, ',', filter).map((part) => parseCondition(part.trim(), filter, limits));
}

function parseCondition(text: string, filter: string, limits: FilterLimits): FilterCondition {
  const fail = (what: string): never => {
    throw new Refusal('InvalidFilter', `Error parsing \`filter\` params: ${what} in "${filter}"; ${ACCEPTED}`);
  };
  const equals = text.indexOf('=');
  if (equals <= 0) fail(`"${text}" has no column=op.value`);
  const column = text.slice(0, equals).trim();
  const rest = text.slice(equals + 1);
  const dot = rest.indexOf('.');
  if (dot < 0) fail(`"${text}" has no operator`);
  const operator = rest.slice(0, dot) as FilterOperator;
  if (!FILTER_OPERATORS.includes(operator)) fail(`unknown operator "${rest.slice(0, dot)}"`);
  const raw = rest.slice(dot + 1);
  if (operator === 'in') {
    if (!raw.startsWith('(') || !raw.endsWith(')')) fail(`in needs a list in parentheses like in.(1,2,3), found "${raw}"`);
    const inner = raw.slice(1, -1);
    const values = inner.trim() === '' ? [] : splitTopLevel(inner, ',', filter).map((value) => unquote(value.trim(), filter));
    if (values.length === 0) fail('in needs at least one value');
    if (values.length > limits.maxFilterValues) throw new Refusal('InvalidFilter', `too many values for 'in' filter. Maximum ${limits.maxFilterValues}`);
    return { column, operator, values };
  }
  const value = unquote(raw, filter);
  if (operator === 'is' && !(IS_VALUES as readonly string[]).includes(value.toLowerCase())) {
    fail(`is accepts ${IS_VALUES.join(', ')}, found "${value}"`);
  }
  return { column, operator, values: [operator === 'is' ? value.toLowerCase() : value] };
}

/** Splits on `separator` outside double quotes and parentheses. */
function splitTopLevel(text: string, separator: string, filter: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let index = 0; index < text.length; index += 1) {
    const character = text[index];
    if (quoted) {
      if (character === '\\') index += 1;
      else if (character === '"') quoted = false;
    } else if (character === '"') quoted = true;
    else if (character === '(') depth += 1;
    else if (character === ')') depth -= 1;
    else if (character === separator && depth === 0) {
      parts.push(text.slice(start, index));
      start = index + 1;
    }
  }
  if (quoted) throw new Refusal('InvalidFilter', `Error parsing \`filter\` params: unterminated quote in "${filter}"; ${ACCEPTED}`);
  if (depth !== 0) throw new Refusal('InvalidFilter', `Error parsing \`filter\` params: unbalanced parentheses in "${filter}"; ${ACCEPTED}`);
  parts.push(text.slice(start));
  return parts;
}

/** `"a,b"` → `a,b` (with `\` escapes); anything else as it is. */
function unquote(value: string, filter: string): string {
  if (!value.startsWith('"')) return value;
  if (value.length < 2 || !value.endsWith('"')) {
    throw new Refusal('InvalidFilter', `Error parsing \`filter\` params: unterminated quote in "${filter}"; ${ACCEPTED}`);
  }
  return value.slice(1, -1).replace(/\\(.)/g, '$1');
}

/** The work judging `conditions` takes per row, counted in values compared (at least one per condition). */
export function filterWeight(conditions: readonly FilterCondition[]): number {
  return conditions.reduce((sum, condition) => sum + Math.max(1, condition.values.length), 0);
}
