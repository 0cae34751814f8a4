-- Whether capture functions leave the log to the WAL path: the database decodes logical changes and
-- the setup has made the slot. Read once per captured row, so it is two cheap lookups.
CREATE OR REPLACE FUNCTION realtime.wal_capture_active() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT current_setting('wal_level') = 'logical' AND (SELECT wal_capture FROM realtime.capture_state)
$$;
