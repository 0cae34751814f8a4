-- Marks connections unseen for p_timeout_seconds disconnected and deletes those disconnected for a
-- day; returns how many it marked and deleted.
CREATE OR REPLACE FUNCTION realtime.cleanup_stale_connections(p_timeout_seconds numeric DEFAULT 300) RETURNS integer
LANGUAGE sql AS $$
  WITH marked AS (
    UPDATE realtime.connections SET status = 'disconnected', disconnected_at = now()
     WHERE status = 'connected' AND last_seen_at < now() - make_interval(secs => p_timeout_seconds)
    RETURNING 1
  ), removed AS (
    DELETE FROM realtime.connections
     WHERE status = 'disconnected' AND disconnected_at < now() - interval '24 hours'
    RETURNING 1
  ) SELECT ((SELECT count(*) FROM marked) + (SELECT count(*) FROM removed))::integer
$$;
