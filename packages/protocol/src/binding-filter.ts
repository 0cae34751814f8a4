// The binding filter grammar of postgres_changes: `column=[not.]op.value` conditions joined by top-level commas.

/** Operators a binding filter accepts. */
export const BINDING_FILTER_OPERATORS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in', 'is', 'like', 'ilike', 'match', 'imatch', 'isdistinct'] as const;
export type BindingFilterOperator = (typeof BINDING_FILTER_OPERATORS)[number];

/** Values `is.` accepts. */
export const BINDING_FILTER_IS_VALUES = ['null', 'true', 'false', 'unknown'] as const;

/** One condition: `column op value`, or its negation (`not.`); `in` has several values, every other operator one. */
export interface BindingFilterCondition {
  readonly column: string;
  readonly operator: BindingFilterOperator;
  readonly values: readonly string[];
  /** `column=not.op.value`: the condition must not hold (a NULL column still passes neither). */
  readonly negated: boolean;
}

/** The prefix that negates a condition. */
const NOT = 'not.';

/** How large a filter may be: values in one `in.(…)` list, and characters in all. */
export interface BindingFilterLimits {
  readonly maxFilterValues: number;
  readonly maxFilterLength: number;
}

/** No bound on size: a client checks the syntax, the server its configured limits too. */
const UNLIMITED: BindingFilterLimits = { maxFilterValues: Infinity, maxFilterLength: Infinity };

/** A binding filter that cannot be read; the message says what was wrong and what is accepted. */
export class BindingFilterSyntaxError extends Error {
  override readonly name = 'BindingFilterSyntaxError';
}

const ACCEPTED = `expected column=op.value or column=not.op.value joined by commas, with op one of ${BINDING_FILTER_OPERATORS.join(', ')} (e.g. id=eq.1, status=in.(open,closed) or name=ilike.*smith*)`;

/**
 * Parses a binding's `filter`, such as `user_id=eq.42,status=in.(open,"on hold")`. An empty or
 * blank filter has no conditions. Values may be double-quoted (`name=eq."a,b"`, `\` escapes).
 * A filter longer than `limits.maxFilterLength` characters, or an `in` list of more than
 * `limits.maxFilterValues` values, is refused (filters are judged for every change of the table).
 */
export function parseBindingFilter(filter: string | undefined, limits: BindingFilterLimits = UNLIMITED): BindingFilterCondition[] {
  if (filter === undefined || filter.trim() === '') return [];
  if (filter.length > limits.maxFilterLength) {
    throw new BindingFilterSyntaxError(`filter is too long: ${filter.length} characters. Maximum ${limits.maxFilterLength}`);
  }
  return splitTopLevel(filter, ',', filter).map((part) => parseCondition(part.trim(), filter, limits));
}

function parseCondition(text: string, filter: string, limits: BindingFilterLimits): BindingFilterCondition {
  const fail = (what: string): never => {
    throw new BindingFilterSyntaxError(`Error parsing \`filter\` params: ${what} in "${filter}"; ${ACCEPTED}`);
  };
  const equals = text.indexOf('=');
  if (equals <= 0) fail(`"${text}" has no column=op.value`);
  const column = text.slice(0, equals).trim();
  const negated = text.startsWith(NOT, equals + 1);
  const rest = text.slice(equals + 1 + (negated ? NOT.length : 0));
  const dot = rest.indexOf('.');
  if (dot < 0) fail(`"${text}" has no operator`);
  const operator = BINDING_FILTER_OPERATORS.find((known) => known === rest.slice(0, dot));
  if (operator === undefined) return fail(`unknown operator "${rest.slice(0, dot)}"`);
  const raw = rest.slice(dot + 1);
  if (operator === 'in') {
    if (!raw.startsWith('(') || !raw.endsWith(')')) fail(`in needs a list in parentheses like in.(1,2,3), found "${raw}"`);
    const inner = raw.slice(1, -1);
    const values = inner.trim() === '' ? [] : splitTopLevel(inner, ',', filter).map((value) => unquote(value.trim(), filter));
    if (values.length === 0) fail('in needs at least one value');
    if (values.length > limits.maxFilterValues) throw new BindingFilterSyntaxError(`too many values for 'in' filter. Maximum ${limits.maxFilterValues}`);
    return { column, operator, values, negated };
  }
  const value = unquote(raw, filter);
  if (operator === 'is' && !(BINDING_FILTER_IS_VALUES as readonly string[]).includes(value.toLowerCase())) {
    fail(`is accepts ${BINDING_FILTER_IS_VALUES.join(', ')}, found "${value}"`);
  }
  return { column, operator, values: [operator === 'is' ? value.toLowerCase() : value], negated };
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
  if (quoted) throw new BindingFilterSyntaxError(`Error parsing \`filter\` params: unterminated quote in "${filter}"; ${ACCEPTED}`);
  if (depth !== 0) throw new BindingFilterSyntaxError(`Error parsing \`filter\` params: unbalanced parentheses in "${filter}"; ${ACCEPTED}`);
  parts.push(text.slice(start));
  return parts;
}

/** `"a,b"` → `a,b` (with `\` escapes); anything else as it is. */
function unquote(value: string, filter: string): string {
  if (!value.startsWith('"')) return value;
  if (value.length < 2 || !value.endsWith('"')) {
    throw new BindingFilterSyntaxError(`Error parsing \`filter\` params: unterminated quote in "${filter}"; ${ACCEPTED}`);
  }
  return value.slice(1, -1).replace(/\\(.)/g, '$1');
}
