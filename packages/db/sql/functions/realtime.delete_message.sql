-- Deletes a message of a channel (by the channel's topic and the message's offset) for a moderator or an
-- admin of the channel, or an operator (realtime.acting_role). The message leaves history and replay at
-- once, and live subscribers are told which one went: a notification on realtime:broadcast with
-- `deleted`, which servers pass on as a `message_deleted` event. Refusals name the rule.
-- Requires: realtime.channel_id_of, realtime.require_role
CREATE OR REPLACE FUNCTION realtime.delete_message(topic text, message_offset bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_channel_id uuid := realtime.channel_id_of(topic);
  v_id uuid;
BEGIN
  PERFORM realtime.require_role(v_channel_id, topic, ARRAY['moderator', 'admin'], 'delete its messages');
  DELETE FROM realtime.messages m WHERE m.channel_id = v_channel_id AND m.channel_offset = message_offset RETURNING m.id INTO v_id;
  IF v_id IS NULL THEN
    RAISE EXCEPTION 'channel "%" has no message at offset %', topic, message_offset USING ERRCODE = 'no_data_found';
  END IF;
  PERFORM pg_notify('realtime:broadcast', json_build_object('id', v_id, 'channel_id', v_channel_id, 'offset', message_offset, 'deleted', true)::text);
END
$$;
