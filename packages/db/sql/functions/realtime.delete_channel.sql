-- Deletes a channel (by its topic) with its members, messages and presence: an admin's or an operator's right alone
-- (realtime.acting_role). Live subscribers are closed with `Channel was deleted` (realtime:access). Refusals name the rule.
-- Requires: realtime.channel_id_of, realtime.require_role
CREATE OR REPLACE FUNCTION realtime.delete_channel(topic text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_channel_id uuid := realtime.channel_id_of(topic);
BEGIN
  PERFORM realtime.require_role(v_channel_id, topic, ARRAY['admin'], 'delete it');
  DELETE FROM realtime.channels c WHERE c.id = v_channel_id;
END
$$;
