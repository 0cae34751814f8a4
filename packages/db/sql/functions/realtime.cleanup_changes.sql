-- Deletes positioned changes older than the retention period, after a sequencing round so that no
-- change leaves the log uncounted; returns how many.
CREATE OR REPLACE FUNCTION realtime.cleanup_changes(p_retention_hours numeric DEFAULT 24) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_deleted integer;
BEGIN
  PERFORM realtime.sequence_changes();
  DELETE FROM realtime.changes
   WHERE position IS NOT NULL AND changed_at < now() - make_interval(secs => p_retention_hours * 3600);
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  RETURN v_deleted;
END
$$;
