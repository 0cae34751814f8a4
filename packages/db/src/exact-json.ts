// Row JSON read and written without rounding: numbers a JavaScript number cannot hold (int8 beyond 2^53, long numerics) keep their digits.
import { randomBytes } from 'node:crypto';
import { isSafeNumber, parse as parseLossless } from 'lossless-json';

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

/** A run of digits long enough that the number holding it may not fit a JavaScript number exactly. */
const LONG_DIGITS = /\d{16}/;

/**
 * Parses JSON text as JSON.parse does, except that numbers a JavaScript number cannot hold become
 * ExactNumbers. Text without 16 digits in a row cannot hold one and takes JSON.parse's fast path.
 */
export function parseExactJson(text: string): unknown {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  return parseLossless(text, null, (digits) => (isSafeNumber(digits) ? Number(digits) : new ExactNumber(digits)));
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
