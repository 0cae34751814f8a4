// Finds and describes the table a user named, and suggests close names when there is none.
import { UserError } from '../errors.js';
import type { Queryable } from '../queryable.js';
import { displayTableName, type TableName } from './names.js';
import { describeRelation, findRelation, isTable, type TableDescription } from './table-description.js';

/**
 * Looks up `name` in the catalog and describes it. Throws a one-line error for a missing table (with
 * close names), a view or other non-table relation, and any table of the `realtime` schema itself.
 */
export async function resolveTable(db: Queryable, name: TableName): Promise<TableDescription> {
  if (name.schema === 'realtime') {
    throw new UserError(`cannot subscribe to ${displayTableName(name)}: tables of the realtime schema are the engine's own`);
  }
  const relation = await findRelation(db, name);
  if (!relation) throw new UserError(`table ${displayTableName(name)} does not exist${await suggestionFor(db, name)}`);
  if (!isTable(relation)) {
    throw new UserError(`${displayTableName(name)} is not a table (${describeKind(relation.relkind)}); only tables can be subscribed`);
  }
  return describeRelation(db, name, relation);
}

/** `; did you mean public.users?` for up to three user tables whose names are close to `name`, else ''. */
async function suggestionFor(db: Queryable, name: TableName): Promise<string> {
  const { rows } = await db.query<TableName>(
    `SELECT n.nspname AS schema, c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'realtime')
        AND n.nspname NOT LIKE 'pg\\_%'`,
  );
  const wanted = displayTableName(name).toLowerCase();
  const close = closestNames(wanted, rows.map(displayTableName), (candidate) => candidate.toLowerCase());
  return close.length > 0 ? `; did you mean ${close.join(', ')}?` : '';
}

/** Up to three candidates within a small edit distance of `wanted`, closest first. */
export function closestNames(wanted: string, candidates: readonly string[], normalise: (text: string) => string = (t) => t): string[] {
  const limit = Math.max(1, Math.min(3, Math.floor(wanted.length / 4)));
  return candidates
    .map((candidate) => ({ candidate, distance: editDistance(wanted, normalise(candidate)) }))
    .filter((entry) => entry.distance <= limit)
    .sort((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate))
    .slice(0, 3)
    .map((entry) => entry.candidate);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function describeKind(relkind: string): string {
  const kinds: Record<string, string> = { v: 'a view', m: 'a materialized view', f: 'a foreign table', S: 'a sequence', i: 'an index', c: 'a composite type' };
  return kinds[relkind] ?? `relation kind ${relkind}`;
}
