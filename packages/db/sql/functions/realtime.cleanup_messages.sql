-- Deletes messages older than the retention period; returns how many.
CREATE OR REPLACE FUNCTION realtime.cleanup_messages(p_retention_hours numeric DEFAULT 24) RETURNS integer
LANGUAGE sql AS $$
  WITH deleted AS (
    DELETE FROM realtime.messages WHERE sent_at < now() - make_interval(secs => p_retention_hours * 3600) RETURNING 1
  ) SELECT count(*)::integer FROM deleted
$$;
