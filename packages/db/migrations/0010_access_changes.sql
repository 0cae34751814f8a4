-- Channel access that follows membership live, and channels that a client's join created.
--
-- Every change that can take away someone's access to a channel sends a NOTIFY on `realtime:access`
-- with ids only (never message content): a member removed or moved (DELETE, UPDATE of user_id, role or
-- channel_id of realtime.channel_members: {"channel_id", "user_id"} of the old row), a channel's type
-- changed or the channel deleted (realtime.channels: {"channel_id"}). Each server re-checks the joined
-- channels of that channel id and closes those that lost access. A role change keeps the member; it is
-- notified too, and the re-check finds the member still there.
--
-- realtime.channels.created_by_join marks the public channels that a client's join created (a name nobody
-- set up). An operator creating a channel of that name takes such a channel over instead of failing, so a
-- name cannot be squatted by joining it first.

ALTER TABLE realtime.channels ADD COLUMN IF NOT EXISTS created_by_join boolean NOT NULL DEFAULT false;

-- The `realtime:access` notification of a removed or changed membership (its old row).
CREATE OR REPLACE FUNCTION realtime.notify_member_access() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('realtime:access', jsonb_build_object('channel_id', OLD.channel_id, 'user_id', OLD.user_id)::text);
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION realtime.notify_member_access() FROM PUBLIC;

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
REVOKE ALL ON FUNCTION realtime.notify_channel_access() FROM PUBLIC;

DROP TRIGGER IF EXISTS channel_members_access_notify ON realtime.channel_members;
CREATE TRIGGER channel_members_access_notify AFTER DELETE OR UPDATE OF user_id, role, channel_id ON realtime.channel_members
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_member_access();

DROP TRIGGER IF EXISTS channels_access_notify ON realtime.channels;
CREATE TRIGGER channels_access_notify AFTER DELETE OR UPDATE OF type ON realtime.channels
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_channel_access();
