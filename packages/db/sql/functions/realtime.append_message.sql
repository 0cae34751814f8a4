-- Appends a message to a channel's log with the next offset and sends its `realtime:broadcast`
-- notification. The channel row lock is held until commit, so offsets of one channel commit in order.
-- A payload over realtime.max_payload_bytes() is refused with SQLSTATE 22023.
CREATE OR REPLACE FUNCTION realtime.append_message(
  p_channel_id uuid, p_event text, p_payload jsonb, p_sender text DEFAULT NULL, p_payload_binary bytea DEFAULT NULL
) RETURNS realtime.messages
LANGUAGE plpgsql AS $$
DECLARE
  v_bytes integer := realtime.checked_payload_bytes(p_payload, p_payload_binary);
  v_offset bigint;
  v_message realtime.messages;
BEGIN
  UPDATE realtime.channels SET last_offset = last_offset + 1
   WHERE id = p_channel_id
   RETURNING last_offset INTO v_offset;
  IF v_offset IS NULL THEN
    RAISE EXCEPTION 'channel % does not exist', p_channel_id USING ERRCODE = 'no_data_found';
  END IF;
  INSERT INTO realtime.messages (channel_id, channel_offset, event_type, payload, payload_binary, sender_id, payload_bytes)
  VALUES (p_channel_id, v_offset, p_event, p_payload, p_payload_binary, p_sender, v_bytes)
  RETURNING * INTO v_message;
  PERFORM pg_notify('realtime:broadcast', realtime.message_note(v_message, realtime.note_key()));
  RETURN v_message;
END
$$;
