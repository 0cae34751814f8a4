-- The `realtime:access` notification of a truncated membership or channel table: re-check everything.
CREATE OR REPLACE FUNCTION realtime.notify_access_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('realtime:access', jsonb_build_object('all', true)::text);
  RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER channel_members_truncate_access_notify AFTER TRUNCATE ON realtime.channel_members
  FOR EACH STATEMENT EXECUTE FUNCTION realtime.notify_access_truncated();
CREATE OR REPLACE TRIGGER channels_truncate_access_notify AFTER TRUNCATE ON realtime.channels
  FOR EACH STATEMENT EXECUTE FUNCTION realtime.notify_access_truncated();
