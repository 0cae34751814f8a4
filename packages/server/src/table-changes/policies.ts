// The row-level security a role meets when it selects from a table: bypassed, or the combined expression of its SELECT policies.
import type { Queryable } from '@nself/db';

/** How a role's reads of one table are filtered. */
export type RowPolicy =
  | { readonly kind: 'bypass' }
  | { readonly kind: 'deny' }
  /** `expression` is PostgreSQL's own rendering of the policies (pg_get_expr), over the table's columns. */
  | { readonly kind: 'expression'; readonly expression: string };

/**
 * Reads, in one query and as of now, the policies PostgreSQL would apply to `role` selecting from the
 * table `oid`: none when row-level security is off, or for a superuser, a BYPASSRLS role or the
 * table's owner (unless FORCE ROW LEVEL SECURITY); otherwise the permissive SELECT (or ALL) policies
 * joined with OR, and the restrictive ones with AND. Without a permissive policy nothing is visible.
 */
export async function rowPolicy(db: Queryable, role: string, oid: number): Promise<RowPolicy> {
  const {
    rows: [row],
  } = await db.query<{ exempt: boolean; policies: Array<{ qual: string; permissive: boolean }> }>(
    `SELECT NOT c.relrowsecurity OR r.rolsuper OR r.rolbypassrls OR (pg_has_role($1, c.relowner, 'USAGE') AND NOT c.relforcerowsecurity) AS exempt,
            (SELECT coalesce(json_agg(json_build_object('qual', pg_get_expr(p.polqual, p.polrelid), 'permissive', p.polpermissive) ORDER BY p.polname), '[]')
               FROM pg_policy p
              WHERE p.polrelid = c.oid AND p.polcmd IN ('r', '*') AND p.polqual IS NOT NULL
                AND EXISTS (SELECT 1 FROM unnest(p.polroles) AS granted(oid) WHERE granted.oid = 0 OR pg_has_role($1, granted.oid, 'USAGE'))) AS policies
       FROM pg_class c, pg_roles r WHERE c.oid = $2 AND r.rolname = $1`,
    [role, oid],
  );
  if (!row) return { kind: 'deny' };
  if (row.exempt) return { kind: 'bypass' };
  const permissive = row.policies.filter((policy) => policy.permissive).map((policy) => `(${policy.qual})`);
  if (permissive.length === 0) return { kind: 'deny' };
  const restrictive = row.policies.filter((policy) => !policy.permissive).map((policy) => `(${policy.qual})`);
  return { kind: 'expression', expression: [`(${permissive.join(' OR ')})`, ...restrictive].join(' AND ') };
}
