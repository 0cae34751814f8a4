// Type parsers for pg that read json and jsonb columns with exact numbers (kept apart from exact-json.ts, which needs no driver).
import pg from 'pg';
import { parseExactJson } from './exact-json.js';

const JSON_OID = 114;
const JSONB_OID = 3802;

/** Type parsers for a query whose json and jsonb columns are rows: parsed with `parseExactJson`. */
export const EXACT_JSON_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === JSON_OID || oid === JSONB_OID) return parseExactJson;
    return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
  },
};
