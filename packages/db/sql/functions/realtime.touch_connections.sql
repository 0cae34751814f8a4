-- Refreshes last-seen of live connections and of the presence they hold (one call per batch).
CREATE OR REPLACE FUNCTION realtime.touch_connections(p_connection_ids text[]) RETURNS void
LANGUAGE sql AS $$
  UPDATE realtime.connections SET last_seen_at = now()
   WHERE connection_id = ANY (p_connection_ids) AND status = 'connected';
  UPDATE realtime.presence p SET last_seen_at = now()
    FROM realtime.presence_sessions s
   WHERE s.connection_id = ANY (p_connection_ids) AND p.user_id = s.user_id AND p.channel_id = s.channel_id;
$$;
