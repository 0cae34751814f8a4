-- A publication FOR ALL TABLES makes UPDATE and DELETE fail on a table with no replica identity (no
-- primary key, REPLICA IDENTITY DEFAULT). While the WAL path is set up, this event trigger function
-- gives such tables REPLICA IDENTITY FULL as they are created or lose their key, so that the
-- application's writes never start failing because capture exists.
-- The event trigger that runs it is made by the WAL setup (packages/db/src/capture/wal/setup.ts).
CREATE OR REPLACE FUNCTION realtime.keep_replica_identity() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_table regclass;
BEGIN
  FOR v_table IN
    SELECT DISTINCT c.oid::regclass
      FROM pg_event_trigger_ddl_commands() AS d
      JOIN pg_catalog.pg_class AS c ON c.oid = d.objid
     WHERE d.classid = 'pg_catalog.pg_class'::regclass AND c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
       AND c.relreplident = 'd'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index AS i WHERE i.indrelid = c.oid AND i.indisprimary)
       AND c.relnamespace NOT IN (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema') OR nspname LIKE 'pg\_%')
  LOOP
    EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', v_table);
  END LOOP;
END
$$;
