// The capture filter grammar of `subscribe`: `column op value [and …]`, parsed into a structure, never run as text.
import { UserError } from '../errors.js';

/** Comparison operators a capture filter accepts. `<>` is read as `!=`. */
export const CAPTURE_FILTER_OPERATORS = ['=', '!=', '<', '<=', '>', '>=', 'in'] as const;
export type CaptureFilterOperator = (typeof CAPTURE_FILTER_OPERATORS)[number];

/** One comparison: a column, an operator and its constant(s), as text to be cast to the column's type. */
export interface CaptureFilterCondition {
  readonly column: string;
  readonly operator: CaptureFilterOperator;
  readonly values: readonly string[];
}

/** A parsed capture filter: every condition must hold (`and`). */
export interface CaptureFilter {
  readonly source: string;
  readonly conditions: readonly CaptureFilterCondition[];
}

type Token =
  | { kind: 'identifier'; text: string; quoted: boolean; at: number }
  | { kind: 'value'; text: string; at: number }
  | { kind: 'operator'; text: string; at: number }
  | { kind: 'punctuation'; text: '(' | ')' | ','; at: number }
  | { kind: 'end'; at: number };

const OPERATOR_LIST = CAPTURE_FILTER_OPERATORS.join(' ');
const ACCEPTED = `expected column op value, with op one of ${OPERATOR_LIST}, joined by and (e.g. post_id = '123' and status in ('a', 'b'))`;

/** Parses a filter such as `post_id = '123'`; throws a one-line error that shows where parsing failed. */
export function parseCaptureFilter(source: string): CaptureFilter {
  const tokens = tokenize(source);
  let index = 0;
  const next = (): Token => tokens[index++] ?? { kind: 'end', at: source.length };
  const peek = (): Token => tokens[index] ?? { kind: 'end', at: source.length };
  const fail = (token: Token, expected: string): never => {
    const found = token.kind === 'end' ? 'the end' : `"${token.text}"`;
    throw new UserError(`invalid filter "${source}": expected ${expected} at position ${token.at + 1}, found ${found}; ${ACCEPTED}`);
  };
  const conditions: CaptureFilterCondition[] = [];
  for (;;) {
    const column = next();
    if (column.kind !== 'identifier') fail(column, 'a column name');
    const operatorToken = next();
    let operator: CaptureFilterOperator;
    if (operatorToken.kind === 'operator') {
      operator = (operatorToken.text === '<>' ? '!=' : operatorToken.text) as CaptureFilterOperator;
    } else if (operatorToken.kind === 'identifier' && !operatorToken.quoted && operatorToken.text === 'in') {
      operator = 'in';
    } else {
      return fail(operatorToken, `an operator (${OPERATOR_LIST})`);
    }
    const values: string[] = [];
    if (operator === 'in') {
      const open = next();
      if (open.kind !== 'punctuation' || open.text !== '(') fail(open, '"(" after in');
      for (;;) {
        values.push(expectValue(next(), fail));
        const separator = next();
        if (separator.kind === 'punctuation' && separator.text === ',') continue;
        if (separator.kind === 'punctuation' && separator.text === ')') break;
        fail(separator, '"," or ")"');
      }
    } else {
      values.push(expectValue(next(), fail));
    }
    conditions.push({ column: (column as { text: string }).text, operator, values });
    const joiner = next();
    if (joiner.kind === 'end') break;
    if (joiner.kind !== 'identifier' || joiner.quoted || joiner.text !== 'and') fail(joiner, '"and" or the end');
    if (peek().kind === 'end') fail(peek(), 'a condition after "and"');
  }
  return { source, conditions };
}

function expectValue(token: Token, fail: (token: Token, expected: string) => never): string {
  if (token.kind === 'value') return token.text;
  if (token.kind === 'identifier' && !token.quoted && (token.text === 'true' || token.text === 'false')) return token.text;
  return fail(token, "a value ('text', a number, true or false)");
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const error = (at: number, what: string): never => {
    throw new UserError(`invalid filter "${source}": ${what} at position ${at + 1}; ${ACCEPTED}`);
  };
  while (i < source.length) {
    const character = source[i] ?? '';
    if (/\s/.test(character)) {
      i += 1;
      continue;
    }
    const at = i;
    if (character === "'" || character === '"') {
      let text = '';
      i += 1;
      for (;;) {
        if (i >= source.length) error(at, `unterminated ${character === "'" ? 'string' : 'quoted name'}`);
        if (source[i] === character) {
          if (source[i + 1] === character) {
            text += character;
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        text += source[i];
        i += 1;
      }
      tokens.push(character === "'" ? { kind: 'value', text, at } : { kind: 'identifier', text, quoted: true, at });
      continue;
    }
    const operator = /^(<=|>=|<>|!=|=|<|>)/.exec(source.slice(i))?.[0];
    if (operator) {
      tokens.push({ kind: 'operator', text: operator, at });
      i += operator.length;
      continue;
    }
    if (character === '(' || character === ')' || character === ',') {
      tokens.push({ kind: 'punctuation', text: character, at });
      i += 1;
      continue;
    }
    const number = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?/.exec(source.slice(i))?.[0];
    if (number) {
      tokens.push({ kind: 'value', text: number, at });
      i += number.length;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(source.slice(i))?.[0];
    if (word) {
      tokens.push({ kind: 'identifier', text: word.toLowerCase(), quoted: false, at });
      i += word.length;
      continue;
    }
    error(at, `unexpected character "${character}"`);
  }
  return tokens;
}
