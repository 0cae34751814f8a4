// The postgres_changes filter grammar (PROTOCOL.md §7.2): `column=op.value` conditions joined by top-level commas.

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

/** A filter that cannot be read; the message says what was wrong and what is accepted. */
export class FilterSyntaxError extends Error {
  override readonly name = 'FilterSyntaxError';
}

const ACCEPTED = `expected column=op.value joined by commas, with op one of ${FILTER_OPERATORS.join(', ')} (e.g. id=eq.1 or status=in.(open,closed))`;

/**
 * Parses a binding's `filter`, such as `user_id=eq.42,status=in.(open,"on hold")`. An empty or
 * blank filter has no conditions. Values may be double-quoted (`name=eq."a,b"`, `\` escapes).
 */
export function parseChangeFilter(filter: string | undefined): FilterCondition[] {
  if (filter === undefined || filter.trim() === '') return [];
  return splitTopLevel(filter, ',', filter).map((part) => parseCondition(part.trim(), filter));
}

function parseCondition(text: string, filter: string): FilterCondition {
  const fail = (what: string): never => {
    throw new FilterSyntaxError(`Error parsing \`filter\` params: ${what} in "${filter}"; ${ACCEPTED}`);
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
  if (quoted) throw new FilterSyntaxError(`Error parsing \`filter\` params: unterminated quote in "${filter}"; ${ACCEPTED}`);
  if (depth !== 0) throw new FilterSyntaxError(`Error parsing \`filter\` params: unbalanced parentheses in "${filter}"; ${ACCEPTED}`);
  parts.push(text.slice(start));
  return parts;
}

/** `"a,b"` → `a,b` (with `\` escapes); anything else as it is. */
function unquote(value: string, filter: string): string {
  if (!value.startsWith('"')) return value;
  if (value.length < 2 || !value.endsWith('"')) {
    throw new FilterSyntaxError(`Error parsing \`filter\` params: unterminated quote in "${filter}"; ${ACCEPTED}`);
  }
  return value.slice(1, -1).replace(/\\(.)/g, '$1');
}
