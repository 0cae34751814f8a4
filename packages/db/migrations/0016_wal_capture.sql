-- Capture from the write-ahead log: where the database has logical replication, one server process
-- decodes committed changes from a replication slot (pgoutput, publication `nself_realtime`) and
-- writes them to realtime.changes in commit order; capture triggers then only send their
-- notification (docs/capture.md, "Capture from the write-ahead log").

-- Whether the WAL path is set up (publication and slot exist): capture functions then write no log
-- row. Set by the setup after the slot exists, cleared when the slot is dropped.
ALTER TABLE realtime.capture_state
  ADD COLUMN wal_capture boolean NOT NULL DEFAULT false,
  -- The last change written from the WAL: its transaction's commit LSN and its place (1, 2, …) in
  -- that transaction, so that a consumer taking over skips exactly what was written before.
  ADD COLUMN wal_commit_lsn pg_lsn,
  ADD COLUMN wal_change_index integer NOT NULL DEFAULT 0,
  -- The newest position when changes could not be read from the WAL (a slot lost or dropped and made
  -- again): a resume from before it is answered as unavailable.
  ADD COLUMN wal_gap_after bigint,
  ADD COLUMN wal_gap_reason text;

-- Changes of a schema watched as a whole belong to no subscription.
ALTER TABLE realtime.changes ALTER COLUMN subscription_id DROP NOT NULL;

-- A table the server captures from the WAL for a join has a subscription with no trigger.
ALTER TABLE realtime.subscriptions DROP CONSTRAINT IF EXISTS subscriptions_capture_check;
ALTER TABLE realtime.subscriptions ADD CONSTRAINT subscriptions_capture_check CHECK (capture IN ('notify', 'poll', 'wal'));

-- Schemas captured as a whole from the WAL (a `table: '*'` join): tables created later are captured too.
CREATE TABLE realtime.schema_watches (
  schema_name text PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- The replication slot of this database: slot names are shared by every database of the cluster.
CREATE FUNCTION realtime.wal_slot_name() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN current_database() ~ '^[a-z0-9_]{1,40}$' THEN 'nself_realtime_' || current_database()
    ELSE 'nself_realtime_' || left(regexp_replace(lower(current_database()), '[^a-z0-9_]+', '_', 'g'), 30)
         || '_' || left(md5(current_database()), 8)
  END
$$;

-- Whether capture functions leave the log to the WAL path: the database decodes logical changes and
-- the setup has made the slot. Read once per captured row, so it is two cheap lookups.
CREATE FUNCTION realtime.wal_capture_active() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT current_setting('wal_level') = 'logical' AND (SELECT wal_capture FROM realtime.capture_state)
$$;

-- A publication FOR ALL TABLES makes UPDATE and DELETE fail on a table with no replica identity (no
-- primary key, REPLICA IDENTITY DEFAULT). While the WAL path is set up, this event trigger function
-- gives such tables REPLICA IDENTITY FULL as they are created or lose their key, so that the
-- application's writes never start failing because capture exists.
CREATE FUNCTION realtime.keep_replica_identity() RETURNS event_trigger
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
REVOKE ALL ON FUNCTION realtime.keep_replica_identity() FROM PUBLIC;
