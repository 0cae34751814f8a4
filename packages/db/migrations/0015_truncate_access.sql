-- TRUNCATE takes access away too, and presence notifications name no channel.
--
-- TRUNCATE fires no row trigger, so emptying realtime.channel_members (or realtime.channels, with
-- CASCADE) sent no `realtime:access` notification and removed members went on receiving. A statement
-- trigger on each table now notifies `realtime:access` with `{"all": true}`: any channel may have
-- changed, and each server re-checks every joined channel, as after its listener reconnects.
--
-- The `realtime:presence` notification of a stored presence carried the channel's slug, so any login
-- that may LISTEN learned the names of private channels. It now carries ids only, like the others.

-- The `realtime:access` notification of a truncated membership or channel table: re-check everything.
CREATE OR REPLACE FUNCTION realtime.notify_access_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('realtime:access', jsonb_build_object('all', true)::text);
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION realtime.notify_access_truncated() FROM PUBLIC;

DROP TRIGGER IF EXISTS channel_members_truncate_access_notify ON realtime.channel_members;
CREATE TRIGGER channel_members_truncate_access_notify AFTER TRUNCATE ON realtime.channel_members
  FOR EACH STATEMENT EXECUTE FUNCTION realtime.notify_access_truncated();

DROP TRIGGER IF EXISTS channels_truncate_access_notify ON realtime.channels;
CREATE TRIGGER channels_truncate_access_notify AFTER TRUNCATE ON realtime.channels
  FOR EACH STATEMENT EXECUTE FUNCTION realtime.notify_access_truncated();

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
