// Row JSON written without rounding: numbers a JavaScript number cannot hold (int8 beyond 2^53, long numerics) keep their digits
// (exact-json-parse.ts reads them; this half loads no parser or driver).
import { randomBytes } from 'node:crypto';

/**
 * A JSON number kept as the text PostgreSQL printed, because a JavaScript number would change it
 * (9007199254740993 would become …992). `stringifyExact` writes its digits; anywhere else it acts
 * as the nearest number, so code that does not know about it sees what it saw before.
 */
export class ExactNumber {
  constructor(readonly text: string) {}

  valueOf(): number {
    return Number(this.text);
  }

  toString(): string {
    return this.text;
  }

  toJSON(): number {
    return Number(this.text);
  }
}

/** Stands for an ExactNumber inside JSON.stringify's output until its digits replace it; random per process, so no value can forge it. */
const MARK = `exact-number-${randomBytes(12).toString('hex')}:`;
const MARKED = new RegExp(`"${MARK}([-+0-9.eE]+)"`, 'g');

/** JSON.stringify (with its indentation, `space`), writing ExactNumbers with their own digits. */
export function stringifyExact(value: unknown, space?: number): string {
  if (!holdsExactNumber(value)) return JSON.stringify(value, null, space);
  const text = JSON.stringify(
    value,
    function replace(this: Record<string, unknown>, key: string, converted: unknown) {
      const original = this[key];
      return original instanceof ExactNumber ? MARK + original.text : converted;
    },
    space,
  );
  return text.replace(MARKED, '$1');
}

/** Whether `value` holds an ExactNumber anywhere (so that it needs the slower replacing stringify). */
function holdsExactNumber(value: unknown): boolean {
  if (value instanceof ExactNumber) return true;
  if (value === null || typeof value !== 'object') return false;
  return Object.values(value).some(holdsExactNumber);
}
