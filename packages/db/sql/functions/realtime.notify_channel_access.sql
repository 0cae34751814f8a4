-- The `realtime:access` notification of a channel whose type changed or that was deleted.
CREATE OR REPLACE FUNCTION realtime.notify_channel_access() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR OLD.type IS DISTINCT FROM NEW.type THEN
    PERFORM pg_notify('realtime:access', jsonb_build_object('channel_id', OLD.id)::text);
  END IF;
  RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER channels_access_notify AFTER DELETE OR UPDATE OF type ON realtime.channels
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_channel_access();
