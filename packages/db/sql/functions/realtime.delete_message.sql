-- Deletes a message of a channel (by the channel's topic and the message's offset) for a moderator or an
-- admin of the channel, or an operator (realtime.acting_role). The message leaves history and replay at
-- once, and live subscribers are told which one went: a notification on realtime:broadcast with
-- `deleted`, which servers pass on as a `message_deleted` event. Refusals name the rule.
-- Requires: realtime.acting_role
CREATE OR REPLACE FUNCTION realtime.delete_message(topic text, message_offset bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_channel_id uuid;
  v_role text;
  v_id uuid;
BEGIN
  SELECT c.id INTO v_channel_id FROM realtime.channels c WHERE c.slug = topic;
  IF v_channel_id IS NULL THEN
    RAISE EXCEPTION 'no channel "%"', topic USING ERRCODE = 'no_data_found';
  END IF;
  v_role := realtime.acting_role(v_channel_id);
  IF v_role IS NULL OR v_role NOT IN ('operator', 'admin', 'moderator') THEN
    RAISE EXCEPTION 'only a moderator or an admin of channel "%" may delete its messages; %', topic,
      CASE WHEN v_role IS NULL THEN 'the caller is not a member' ELSE 'the caller is a ' || v_role END
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  DELETE FROM realtime.messages m WHERE m.channel_id = v_channel_id AND m.channel_offset = message_offset RETURNING m.id INTO v_id;
  IF v_id IS NULL THEN
    RAISE EXCEPTION 'channel "%" has no message at offset %', topic, message_offset USING ERRCODE = 'no_data_found';
  END IF;
  PERFORM pg_notify('realtime:broadcast', json_build_object('id', v_id, 'channel_id', v_channel_id, 'offset', message_offset, 'deleted', true)::text);
END
$$;
