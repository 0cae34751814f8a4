-- The `realtime:access` notification of a removed or changed membership (its old row).
CREATE OR REPLACE FUNCTION realtime.notify_member_access() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('realtime:access', jsonb_build_object('channel_id', OLD.channel_id, 'user_id', OLD.user_id)::text);
  RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER channel_members_access_notify AFTER DELETE OR UPDATE OF user_id, role, channel_id ON realtime.channel_members
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_member_access();
