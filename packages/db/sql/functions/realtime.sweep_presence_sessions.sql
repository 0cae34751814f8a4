-- Requires: realtime.end_presence_sessions
-- Ends the sessions of connections that are gone (disconnected, unknown, or silent for too long),
-- which is how presence left by a server process that died turns offline. Returns users turned offline.
CREATE OR REPLACE FUNCTION realtime.sweep_presence_sessions(p_timeout_seconds numeric DEFAULT 300) RETURNS integer
LANGUAGE sql AS $$
  SELECT COALESCE(realtime.end_presence_sessions(array_agg(DISTINCT s.connection_id)), 0)
    FROM realtime.presence_sessions s
    LEFT JOIN realtime.connections c ON c.connection_id = s.connection_id
   WHERE c.id IS NULL OR c.status <> 'connected'
      OR c.last_seen_at < now() - make_interval(secs => p_timeout_seconds)
  HAVING count(*) > 0
$$;
