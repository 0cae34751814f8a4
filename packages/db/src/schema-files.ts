// Reads the realtime schema's SQL files: versioned migrations, and function files in the order their requirements give.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding `migrations/` and `functions/` of this build. */
export const SQL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'sql');

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** A file of `functions/`: one function (with the triggers that run it), applied again whenever it changes. */
export interface FunctionFile {
  /** The file's name without `.sql`, e.g. `realtime.next_changes` (or `auth.uid`, a helper Supabase's policies call). */
  readonly name: string;
  readonly sql: string;
  /** sha256 of the file's text, recorded in realtime.schema_functions. */
  readonly checksum: string;
}

const MIGRATION_FILE = /^\d{4}_[a-z0-9_]+\.sql$/;
const FUNCTION_FILE = /^(realtime|auth)\.[a-z0-9_]+\.sql$/;
/** A header line naming function files that must be applied first: `-- Requires: realtime.a, realtime.b`. */
const REQUIRES_LINE = /^-- Requires: (.+)$/gm;

/** The migration files (`NNNN_name.sql`) in version order. */
export async function loadMigrations(sqlDir = SQL_DIR): Promise<Migration[]> {
  const dir = path.join(sqlDir, 'migrations');
  const files = (await readdir(dir)).filter((file) => MIGRATION_FILE.test(file)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 4)),
      name: file.replace(/\.sql$/, ''),
      sql: await readFile(path.join(dir, file), 'utf8'),
    })),
  );
}

/** The grants of `grants.sql`: what roles other than the schema's owner may use. */
export async function loadGrants(sqlDir = SQL_DIR): Promise<string> {
  return readFile(path.join(sqlDir, 'grants.sql'), 'utf8');
}

/**
 * The function files (`realtime.name.sql`, `auth.name.sql`), each after the files its `-- Requires:` lines name and
 * otherwise in name order, so that the order is the same on every run.
 */
export async function loadFunctions(sqlDir = SQL_DIR): Promise<FunctionFile[]> {
  const dir = path.join(sqlDir, 'functions');
  const names = (await readdir(dir))
    .filter((file) => FUNCTION_FILE.test(file))
    .sort()
    .map((file) => file.replace(/\.sql$/, ''));
  const files = new Map<string, FunctionFile & { requires: string[] }>();
  for (const name of names) {
    const sql = await readFile(path.join(dir, `${name}.sql`), 'utf8');
    const requires = [...sql.matchAll(REQUIRES_LINE)].flatMap((match) => (match[1] ?? '').split(',').map((required) => required.trim()));
    for (const required of requires) {
      if (!names.includes(required)) throw new Error(`functions/${name}.sql requires ${required}, which is not a file of functions/ (${required}.sql)`);
    }
    files.set(name, { name, sql, checksum: createHash('sha256').update(sql).digest('hex'), requires });
  }
  const ordered: FunctionFile[] = [];
  const visiting = new Set<string>();
  const visit = (name: string): void => {
    if (ordered.some((file) => file.name === name)) return;
    if (visiting.has(name)) throw new Error(`functions/${name}.sql requires itself through ${[...visiting].join(' → ')}`);
    visiting.add(name);
    const file = files.get(name)!;
    for (const required of file.requires) visit(required);
    visiting.delete(name);
    ordered.push({ name: file.name, sql: file.sql, checksum: file.checksum });
  };
  for (const name of names) visit(name);
  return ordered;
}
