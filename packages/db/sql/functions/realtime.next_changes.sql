-- One change feed step in one round trip: runs a sequencing round (realtime.sequence_changes) and
-- returns the changes after p_after up to the newest position, in position order, optionally only of
-- the tables (p_schemas[i], p_tables[i]), each with the access_version of its table. Every row carries
-- `newest`, the newest position after the round; with no change to return, one row with only `newest`
-- set. The page and the versions are read in one snapshot taken after the round, in the round's
-- transaction, so they see the positions just given and every GRANT or REVOKE committed before any
-- change of the page; the caller receives them only once that transaction has committed. The versions
-- are computed once per table of the page (MATERIALIZED: inlined, they ran once per change).
CREATE OR REPLACE FUNCTION realtime.next_changes(p_after bigint, p_schemas text[], p_tables text[], p_limit integer)
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
    ), versions AS MATERIALIZED (
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
