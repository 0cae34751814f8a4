-- One round trip per change feed step: sequence what has committed, then read the page after a
-- position together with a version of what decides who may read each table in it.

-- A fingerprint (sha256) of the catalog rows that decide which roles may read table p_schema.p_table and which
-- of its rows they see: the table (privileges, owner, row-level security switches), its schema, its
-- columns (column privileges), its policies, role memberships and the roles' superuser and BYPASSRLS
-- attributes. Any GRANT, REVOKE, policy or role change among them gives a new value; equal values mean
-- that every privilege and policy answer about the table is still the same.
CREATE FUNCTION realtime.access_version(p_schema text, p_table text) RETURNS text
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

-- Runs a sequencing round (realtime.sequence_changes) and returns the changes after p_after up to the
-- newest position, in position order, optionally only of the tables (p_schemas[i], p_tables[i]), each
-- with the access_version of its table. Every row carries `newest`, the newest position after the
-- round; with no change to return, one row with only `newest` set. The page and the versions are read
-- in one snapshot taken after the round, in the round's transaction, so they see the positions just
-- given and every GRANT or REVOKE committed before any change of the page; the caller receives them
-- only once that transaction has committed.
CREATE FUNCTION realtime.next_changes(p_after bigint, p_schemas text[], p_tables text[], p_limit integer)
RETURNS TABLE (newest bigint, "position" bigint, changed_at timestamptz, operation text, schema_name text,
               table_name text, new_record jsonb, old_record jsonb, writer_pid integer, subscription_id uuid,
               access_version text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_newest bigint := realtime.sequence_changes();
BEGIN
  RETURN QUERY
    WITH page AS (
      SELECT c.position, c.changed_at, c.operation, c.schema_name, c.table_name, c.new_record, c.old_record, c.writer_pid, c.subscription_id
        FROM realtime.changes AS c
       WHERE c.position > p_after AND c.position <= v_newest
         AND (p_schemas IS NULL OR (c.schema_name, c.table_name) IN (SELECT * FROM unnest(p_schemas, p_tables)))
       ORDER BY c.position
       LIMIT p_limit
    ), versions AS (
      SELECT t.schema_name, t.table_name, realtime.access_version(t.schema_name, t.table_name) AS version
        FROM (SELECT DISTINCT page.schema_name, page.table_name FROM page) AS t
    )
    SELECT v_newest, page.position, page.changed_at, page.operation, page.schema_name, page.table_name,
           page.new_record, page.old_record, page.writer_pid, page.subscription_id, versions.version
      FROM page JOIN versions ON versions.schema_name = page.schema_name AND versions.table_name = page.table_name
     ORDER BY page.position;
  IF NOT FOUND THEN
    RETURN QUERY SELECT v_newest, NULL::bigint, NULL::timestamptz, NULL::text, NULL::text, NULL::text,
                        NULL::jsonb, NULL::jsonb, NULL::integer, NULL::uuid, NULL::text;
  END IF;
END
$$;
