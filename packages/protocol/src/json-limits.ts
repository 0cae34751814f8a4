// Limits on client JSON that JSON.parse does not enforce: nesting depth, numbers a 64-bit float cannot keep exactly, strings PostgreSQL cannot store.

/** What client JSON may be: its deepest nesting of arrays and objects. */
export interface JsonLimits {
  /** Most levels of nested arrays and objects (the document itself is level 1). */
  readonly maxDepth: number;
}

/**
 * The default nesting limit: far deeper than application payloads nest (presence metas, chat
 * messages, table rows rarely pass 10), far shallower than what overflows JSON.stringify's stack
 * (thousands of levels on Node 20).
 */
export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: 100 };

/** Client JSON that is valid but would not be kept as sent; `problem` names what and `path` where (`$` is the document). */
export class JsonValueError extends Error {
  override readonly name = 'JsonValueError';

  constructor(
    readonly problem: string,
    readonly path: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

/** Paths in errors are cut after this many characters (a path into deep nesting is as long as the nesting). */
const MAX_PATH_LENGTH = 120;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/**
 * Checks the text of a valid JSON document (one JSON.parse accepted) against `limits`, that every
 * number in it parses to a float that prints back as the same number, so that what is stored and
 * delivered is what was sent (`1e400` would become null, `12345678901234567890` lose digits), and
 * that its strings can be stored (no `\u0000`, no unpaired surrogate escape: PostgreSQL's jsonb
 * refuses both, and a refused message would fail the commit of the messages stored with it).
 * Throws JsonValueError naming the first problem and its path. One pass; strings are skipped with
 * indexOf, and only numbers of more than 15 characters or with an exponent are examined closely.
 */
export function checkJsonText(text: string, limits: JsonLimits = DEFAULT_JSON_LIMITS): void {
  let depth = 0;
  let index = 0;
  const length = text.length;
  while (index < length) {
    const code = text.charCodeAt(index);
    if (code === QUOTE) {
      index = stringEnd(text, index) + 1;
    } else if (code === OPEN_BRACKET || code === OPEN_BRACE) {
      if (++depth > limits.maxDepth) {
        throw new JsonValueError(`nests deeper than ${limits.maxDepth} levels of arrays and objects`, pathAt(text, index));
      }
      index++;
    } else if (code === CLOSE_BRACKET || code === CLOSE_BRACE) {
      depth--;
      index++;
    } else if (code === MINUS || (code >= DIGIT_0 && code <= DIGIT_9)) {
      const start = index;
      index = numberEnd(text, index);
      const token = text.slice(start, index);
      const problem = numberProblem(token);
      if (problem) throw new JsonValueError(problem, pathAt(text, start));
    } else {
      index++;
    }
  }
  if (text.includes('\\u')) checkEscapes(text);
}

/**
 * A `\u` escape that may be one PostgreSQL cannot store in jsonb, preceded by an even number of
 * backslashes (so that its backslash is not itself escaped). Group 1 is the escape: a whole surrogate
 * pair (fine), NUL, or a surrogate half alone.
 */
const UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*(\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u0000|\\u[dD][89a-fA-F][0-9a-fA-F]{2})/g;
const SURROGATE_PAIR_LENGTH = 12;

/** Throws JsonValueError for the first string escape that PostgreSQL cannot store. */
function checkEscapes(text: string): void {
  UNSTORABLE_ESCAPE.lastIndex = 0;
  for (let match = UNSTORABLE_ESCAPE.exec(text); match; match = UNSTORABLE_ESCAPE.exec(text)) {
    const escape = match[1]!;
    if (escape.length === SURROGATE_PAIR_LENGTH) continue;
    const at = match.index + match[0].length - escape.length;
    const problem =
      escape === '\\u0000'
        ? 'string escape \\u0000 cannot be stored (PostgreSQL text has no NUL character)'
        : `string escape ${escape} is half of a UTF-16 surrogate pair and cannot be stored as UTF-8`;
    throw new JsonValueError(problem, pathAt(text, at));
  }
}

/** The index of the quote that closes the string opening at `start`. */
function stringEnd(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  while (end !== -1) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
  return text.length;
}

/** The index after the number token starting at `start`. */
function numberEnd(text: string, start: number): number {
  let index = start + 1;
  for (;;) {
    const code = text.charCodeAt(index);
    const inNumber = (code >= DIGIT_0 && code <= DIGIT_9) || code === 0x2e || code === 0x65 || code === 0x45 || code === 0x2b || code === MINUS;
    if (!inNumber) return index;
    index++;
  }
}

/** Why a JSON number token would not be kept exactly, or undefined when it is. */
export function numberProblem(token: string): string | undefined {
  // Up to 15 significant digits without an exponent always survive a float and print back the same.
  if (token.length <= 15 && !/[eE]/.test(token)) return undefined;
  const value = Number(token);
  const kept = String(value);
  const exact = decimalOf(token);
  if (exact === decimalOf(kept)) return undefined;
  if (!Number.isFinite(value) || value === 0) return `number ${token} is beyond the range of a 64-bit float; send it as a string`;
  return `number ${token} has more precision than a 64-bit float keeps (it would become ${kept}); send it as a string`;
}

/** A number's exact decimal value in one canonical form: sign, significant digits and exponent (`0` for zero). */
function decimalOf(token: string): string {
  const negative = token.startsWith('-');
  const [mantissa = '', exponentText = '0'] = (negative ? token.slice(1) : token).split(/[eE]/);
  const [whole = '', fraction = ''] = mantissa.split('.');
  let digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return '0';
  let exponent = Number(exponentText) - fraction.length;
  const trimmed = digits.replace(/0+$/, '');
  exponent += digits.length - trimmed.length;
  digits = trimmed;
  return `${negative ? '-' : ''}${digits}e${exponent}`;
}

/** The path (`$.a[2].b`) of the value at `target` in a valid JSON document; only computed for an error. */
function pathAt(text: string, target: number): string {
  const stack: { key: string | number; isArray: boolean }[] = [];
  let expectingKey = false;
  let index = 0;
  while (index < target) {
    const code = text.charCodeAt(index);
    if (code === QUOTE) {
      const end = stringEnd(text, index);
      const top = stack.at(-1);
      if (expectingKey && top) top.key = JSON.parse(text.slice(index, end + 1)) as string;
      expectingKey = false;
      index = end + 1;
      continue;
    }
    if (code === OPEN_BRACE) {
      stack.push({ key: '', isArray: false });
      expectingKey = true;
    } else if (code === OPEN_BRACKET) {
      stack.push({ key: 0, isArray: true });
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      stack.pop();
    } else if (code === 0x2c) {
      const top = stack.at(-1);
      if (top?.isArray) top.key = (top.key as number) + 1;
      else expectingKey = true;
    }
    index++;
  }
  const path = stack.reduce(
    (path, { key, isArray }) => (isArray ? `${path}[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key as string) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`),
    '$',
  );
  return path.length > MAX_PATH_LENGTH ? `${path.slice(0, MAX_PATH_LENGTH)}…` : path;
}
