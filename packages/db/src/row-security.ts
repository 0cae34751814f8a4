// `nself realtime init --rls`: row-level security on the realtime tables, with policies that show each user what is theirs.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { SQL_DIR } from './schema-files.js';

/** The tables `enableRowSecurity` protects, for what `init --rls` reports. */
export const ROW_SECURITY_TABLES = ['channels', 'channel_members', 'messages', 'presence', 'presence_sessions', 'connections'] as const;

/** Enables row-level security on the realtime tables with the policies of `sql/row-security.sql`, in one transaction. */
export async function enableRowSecurity(pool: pg.Pool, sqlDir = SQL_DIR): Promise<void> {
  const sql = await readFile(path.join(sqlDir, 'row-security.sql'), 'utf8');
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(sql);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
