// Row JSON read without rounding: numbers a JavaScript number cannot hold become ExactNumbers, in pg's type parsers for json and jsonb.
import { isSafeNumber, parse as parseLossless } from 'lossless-json';
import pg from 'pg';
import { ExactNumber } from './exact-json.js';

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

const JSON_OID = 114;
const JSONB_OID = 3802;

/** Type parsers for a query whose json and jsonb columns are rows: parsed with `parseExactJson`. */
export const EXACT_JSON_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === JSON_OID || oid === JSONB_OID) return parseExactJson;
    return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
  },
};
