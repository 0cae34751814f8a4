-- Marks presence unseen for p_timeout_seconds offline; returns how many.
CREATE OR REPLACE FUNCTION realtime.cleanup_stale_presence(p_timeout_seconds numeric DEFAULT 300) RETURNS integer
LANGUAGE sql AS $$
  WITH updated AS (
    UPDATE realtime.presence SET status = 'offline'
     WHERE status <> 'offline' AND last_seen_at < now() - make_interval(secs => p_timeout_seconds)
    RETURNING 1
  ) SELECT count(*)::integer FROM updated
$$;
