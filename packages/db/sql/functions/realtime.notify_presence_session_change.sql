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
CREATE OR REPLACE TRIGGER presence_sessions_notify AFTER INSERT OR UPDATE OR DELETE ON realtime.presence_sessions
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_presence_session_change();
