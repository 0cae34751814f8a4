-- Records that a connection tracks presence in a channel under a presence key with its metadata.
-- The presence of p_user_id (the token's user) takes the status and metadata; a NULL user (no
-- user in the token) writes no presence row. A session re-tracked under another user first
-- releases the previous user's presence.
CREATE OR REPLACE FUNCTION realtime.track_presence_session(
  p_connection_id text, p_channel_id uuid, p_user_id text, p_presence_key text, p_status text, p_metadata jsonb, p_server_id text
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM realtime.presence_sessions
              WHERE connection_id = p_connection_id AND channel_id = p_channel_id AND user_id IS DISTINCT FROM p_user_id) THEN
    PERFORM realtime.end_presence_sessions(ARRAY[p_connection_id], p_channel_id);
  END IF;
  IF p_user_id IS NOT NULL THEN
    INSERT INTO realtime.presence (user_id, channel_id, status, metadata, last_seen_at)
    VALUES (p_user_id, p_channel_id, p_status, p_metadata, now())
    ON CONFLICT ON CONSTRAINT presence_user_channel_key
    DO UPDATE SET status = EXCLUDED.status, metadata = EXCLUDED.metadata, last_seen_at = now();
  END IF;
  INSERT INTO realtime.presence_sessions (connection_id, channel_id, user_id, presence_key, metadata, server_id)
  VALUES (p_connection_id, p_channel_id, p_user_id, p_presence_key, p_metadata, p_server_id)
  ON CONFLICT (connection_id, channel_id) DO UPDATE
    SET user_id = EXCLUDED.user_id, presence_key = EXCLUDED.presence_key, metadata = EXCLUDED.metadata, tracked_at = now();
END
$$;
