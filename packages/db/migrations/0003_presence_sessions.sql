-- Presence held by WebSocket connections: which connection tracks which user in which channel, so a
-- user with two connections who closes one stays present, and presence of a dead server process is swept.

CREATE TABLE realtime.presence_sessions (
  connection_id text NOT NULL CHECK (length(connection_id) BETWEEN 1 AND 255),
  channel_id    uuid NOT NULL REFERENCES realtime.channels (id) ON DELETE CASCADE,
  user_id       text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
  server_id     text,
  tracked_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (connection_id, channel_id)
);
CREATE INDEX presence_sessions_user_channel_idx ON realtime.presence_sessions (user_id, channel_id);

-- Ends sessions of the given connections (in one channel, or in all when p_channel_id is NULL).
-- A user left with no session in a channel goes offline there. The presence rows are locked first,
-- so two connections of one user closing at the same time cannot both leave the user online.
CREATE FUNCTION realtime.end_presence_sessions(p_connection_ids text[], p_channel_id uuid DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_offline integer;
BEGIN
  PERFORM 1 FROM realtime.presence p
    JOIN realtime.presence_sessions s ON s.user_id = p.user_id AND s.channel_id = p.channel_id
   WHERE s.connection_id = ANY (p_connection_ids) AND (p_channel_id IS NULL OR s.channel_id = p_channel_id)
   ORDER BY p.id FOR UPDATE OF p;
  WITH ended AS (
    DELETE FROM realtime.presence_sessions s
     WHERE s.connection_id = ANY (p_connection_ids) AND (p_channel_id IS NULL OR s.channel_id = p_channel_id)
    RETURNING s.user_id, s.channel_id
  ), orphaned AS (
    SELECT DISTINCT e.user_id, e.channel_id FROM ended e
     WHERE NOT EXISTS (
       SELECT 1 FROM realtime.presence_sessions o
        WHERE o.user_id = e.user_id AND o.channel_id = e.channel_id
          AND NOT (o.connection_id = ANY (p_connection_ids) AND (p_channel_id IS NULL OR o.channel_id = p_channel_id)))
  ), marked AS (
    UPDATE realtime.presence p SET status = 'offline', last_seen_at = now()
      FROM orphaned o
     WHERE p.user_id = o.user_id AND p.channel_id = o.channel_id AND p.status <> 'offline'
    RETURNING 1
  ) SELECT count(*)::integer INTO v_offline FROM marked;
  RETURN v_offline;
END
$$;

-- Records that a connection tracks a user in a channel and sets that user's presence there.
CREATE FUNCTION realtime.track_presence_session(
  p_connection_id text, p_channel_id uuid, p_user_id text, p_status text, p_metadata jsonb, p_server_id text
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  -- Re-tracking under another user first releases the previous user's session.
  IF EXISTS (SELECT 1 FROM realtime.presence_sessions
              WHERE connection_id = p_connection_id AND channel_id = p_channel_id AND user_id <> p_user_id) THEN
    PERFORM realtime.end_presence_sessions(ARRAY[p_connection_id], p_channel_id);
  END IF;
  INSERT INTO realtime.presence (user_id, channel_id, status, metadata, last_seen_at)
  VALUES (p_user_id, p_channel_id, p_status, p_metadata, now())
  ON CONFLICT ON CONSTRAINT presence_user_channel_key
  DO UPDATE SET status = EXCLUDED.status, metadata = EXCLUDED.metadata, last_seen_at = now();
  INSERT INTO realtime.presence_sessions (connection_id, channel_id, user_id, server_id)
  VALUES (p_connection_id, p_channel_id, p_user_id, p_server_id)
  ON CONFLICT (connection_id, channel_id) DO UPDATE SET user_id = EXCLUDED.user_id, tracked_at = now();
END
$$;

-- Refreshes last-seen of live connections and of the presence they hold (one call per batch).
CREATE FUNCTION realtime.touch_connections(p_connection_ids text[]) RETURNS void
LANGUAGE sql AS $$
  UPDATE realtime.connections SET last_seen_at = now()
   WHERE connection_id = ANY (p_connection_ids) AND status = 'connected';
  UPDATE realtime.presence p SET last_seen_at = now()
    FROM realtime.presence_sessions s
   WHERE s.connection_id = ANY (p_connection_ids) AND p.user_id = s.user_id AND p.channel_id = s.channel_id;
$$;

-- Ends the sessions of connections that are gone (disconnected, unknown, or silent for too long),
-- which is how presence left by a server process that died turns offline. Returns users turned offline.
CREATE FUNCTION realtime.sweep_presence_sessions(p_timeout_seconds numeric DEFAULT 300) RETURNS integer
LANGUAGE sql AS $$
  SELECT COALESCE(realtime.end_presence_sessions(array_agg(DISTINCT s.connection_id)), 0)
    FROM realtime.presence_sessions s
    LEFT JOIN realtime.connections c ON c.connection_id = s.connection_id
   WHERE c.id IS NULL OR c.status <> 'connected'
      OR c.last_seen_at < now() - make_interval(secs => p_timeout_seconds)
  HAVING count(*) > 0
$$;
