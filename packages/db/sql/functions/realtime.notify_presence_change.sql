-- A presence row changed (from any source): which user in which channel, never the channel's name,
-- the status or the metadata.
CREATE OR REPLACE FUNCTION realtime.notify_presence_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_row realtime.presence;
BEGIN
  v_row := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  IF TG_OP = 'UPDATE' AND NEW.status = OLD.status AND NEW.metadata = OLD.metadata THEN
    RETURN NULL; -- a last-seen refresh is not news
  END IF;
  PERFORM pg_notify('realtime:presence', jsonb_build_object(
    'operation', TG_OP, 'user_id', v_row.user_id, 'channel_id', v_row.channel_id
  )::text);
  RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER presence_notify AFTER INSERT OR UPDATE OR DELETE ON realtime.presence
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_presence_change();
