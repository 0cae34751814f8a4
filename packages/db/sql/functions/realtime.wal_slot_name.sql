-- The replication slot of this database: slot names are shared by every database of the cluster.
CREATE OR REPLACE FUNCTION realtime.wal_slot_name() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN current_database() ~ '^[a-z0-9_]{1,40}$' THEN 'nself_realtime_' || current_database()
    ELSE 'nself_realtime_' || left(regexp_replace(lower(current_database()), '[^a-z0-9_]+', '_', 'g'), 30)
         || '_' || left(md5(current_database()), 8)
  END
$$;
