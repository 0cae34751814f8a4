-- Presence as clients see it, apart from presence as stored per user. Each WebSocket track is a
-- session of one connection in one channel with the presence key it joined with and the metadata it
-- tracked; viewers see one meta per session under its key. realtime.presence (the per-user table
-- the CLI reads) is written under the token's user only, so a presence key naming another user
-- changes nothing of theirs, and a session without a user writes no row. NOTIFY on
-- realtime:presence carries ids; readers read the tables, so metadata of any size arrives intact.

ALTER TABLE realtime.presence_sessions ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE realtime.presence_sessions ADD COLUMN IF NOT EXISTS presence_key text;
ALTER TABLE realtime.presence_sessions ADD COLUMN IF NOT EXISTS metadata jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE realtime.presence_sessions DROP CONSTRAINT IF EXISTS presence_sessions_key_check;
ALTER TABLE realtime.presence_sessions ADD CONSTRAINT presence_sessions_key_check
  CHECK (length(presence_key) BETWEEN 1 AND 255 AND (presence_key IS NOT NULL OR user_id IS NOT NULL));
CREATE INDEX IF NOT EXISTS presence_sessions_channel_idx ON realtime.presence_sessions (channel_id);

-- Sessions from before this migration were keyed by their user and showed the user's metadata.
UPDATE realtime.presence_sessions s SET presence_key = s.user_id, metadata = p.metadata
  FROM realtime.presence p
 WHERE s.presence_key IS NULL AND p.user_id = s.user_id AND p.channel_id = s.channel_id;

DROP FUNCTION IF EXISTS realtime.track_presence_session(text, uuid, text, text, jsonb, text);

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

-- A presence row changed (from any source): which user in which channel, never the status or metadata.
CREATE OR REPLACE FUNCTION realtime.notify_presence_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_row realtime.presence;
  v_slug text;
BEGIN
  v_row := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  IF TG_OP = 'UPDATE' AND NEW.status = OLD.status AND NEW.metadata = OLD.metadata THEN
    RETURN NULL; -- a last-seen refresh is not news
  END IF;
  SELECT slug INTO v_slug FROM realtime.channels WHERE id = v_row.channel_id;
  PERFORM pg_notify('realtime:presence', jsonb_build_object(
    'operation', TG_OP, 'user_id', v_row.user_id, 'channel_id', v_row.channel_id, 'channel', v_slug
  )::text);
  RETURN NULL;
END
$$;

-- A session changed: which connection (and user) in which channel, never its key or metadata.
CREATE OR REPLACE FUNCTION realtime.notify_presence_session_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_row realtime.presence_sessions;
BEGIN
  v_row := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  IF TG_OP = 'UPDATE' AND NEW.presence_key IS NOT DISTINCT FROM OLD.presence_key AND NEW.metadata = OLD.metadata
     AND NEW.user_id IS NOT DISTINCT FROM OLD.user_id THEN
    RETURN NULL; -- the same track again is not news
  END IF;
  PERFORM pg_notify('realtime:presence', jsonb_build_object(
    'operation', TG_OP, 'connection_id', v_row.connection_id, 'channel_id', v_row.channel_id, 'user_id', v_row.user_id
  )::text);
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS presence_sessions_notify ON realtime.presence_sessions;
CREATE TRIGGER presence_sessions_notify AFTER INSERT OR UPDATE OR DELETE ON realtime.presence_sessions
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_presence_session_change();
