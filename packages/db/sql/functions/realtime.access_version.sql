-- A fingerprint (sha256) of the catalog rows that decide which roles may read table p_schema.p_table and which
-- of its rows they see: the table (privileges, owner, row-level security switches), its schema, its
-- columns (column privileges), its policies, role memberships and the roles' superuser and BYPASSRLS
-- attributes. Any GRANT, REVOKE, policy or role change among them gives a new value; equal values mean
-- that every privilege and policy answer about the table is still the same.
CREATE OR REPLACE FUNCTION realtime.access_version(p_schema text, p_table text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
  -- plpgsql keeps the plan of this query for the session; a SQL function would plan it on every call.
  RETURN (
    SELECT encode(sha256(convert_to(concat_ws('|', c.oid, c.xmin, n.xmin,
      (SELECT string_agg(a.xmin::text, ',' ORDER BY a.attnum) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0),
      (SELECT string_agg(p.oid::text || ':' || p.xmin::text, ',' ORDER BY p.oid) FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid),
      (SELECT string_agg(m.xmin::text || ':' || m.roleid::text || ':' || m.member::text, ',' ORDER BY m.roleid, m.member) FROM pg_catalog.pg_auth_members m),
      (SELECT string_agg(r.oid::text || ':' || r.rolsuper::text || ':' || r.rolbypassrls::text, ',' ORDER BY r.oid) FROM pg_catalog.pg_roles r)), 'UTF8')), 'hex')
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = p_schema AND c.relname = p_table);
END
$$;
