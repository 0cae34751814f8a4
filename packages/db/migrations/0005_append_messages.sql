-- Several messages of one channel stored in one statement: consecutive offsets, one channel lock, one round trip.

-- The `realtime:broadcast` notification of a stored message (the payload only while it stays small).
CREATE FUNCTION realtime.message_note(p_message realtime.messages, p_slug text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_note jsonb := jsonb_build_object(
    'id', p_message.id, 'channel_id', p_message.channel_id, 'channel', p_slug, 'offset', p_message.channel_offset,
    'event', p_message.event_type, 'sender', p_message.sender_id, 'sent_at', p_message.sent_at);
BEGIN
  -- Small payloads ride along; larger ones are read from the table by offset.
  IF p_message.payload IS NOT NULL AND octet_length(p_message.payload::text) + octet_length(v_note::text) < 7000 THEN
    v_note := v_note || jsonb_build_object('payload', p_message.payload);
  END IF;
  RETURN v_note::text;
END
$$;

CREATE OR REPLACE FUNCTION realtime.append_message(
  p_channel_id uuid, p_event text, p_payload jsonb, p_sender text DEFAULT NULL, p_payload_binary bytea DEFAULT NULL
) RETURNS realtime.messages
LANGUAGE plpgsql AS $$
DECLARE
  v_offset bigint;
  v_slug text;
  v_message realtime.messages;
BEGIN
  UPDATE realtime.channels SET last_offset = last_offset + 1
   WHERE id = p_channel_id
   RETURNING last_offset, slug INTO v_offset, v_slug;
  IF v_offset IS NULL THEN
    RAISE EXCEPTION 'channel % does not exist', p_channel_id USING ERRCODE = 'no_data_found';
  END IF;
  INSERT INTO realtime.messages (channel_id, channel_offset, event_type, payload, payload_binary, sender_id)
  VALUES (p_channel_id, v_offset, p_event, p_payload, p_payload_binary, p_sender)
  RETURNING * INTO v_message;
  PERFORM pg_notify('realtime:broadcast', realtime.message_note(v_message, v_slug));
  RETURN v_message;
END
$$;

-- Appends the messages (p_ids[i], p_events[i], p_payloads[i], p_senders[i], p_payloads_binary[i]) to a
-- channel in array order with consecutive offsets, as realtime.append_message would one after another
-- in one transaction (the channel row is locked once), and returns them in offset order. The ids are
-- the caller's, so it can recognise its own messages in notifications that arrive before the reply.
CREATE FUNCTION realtime.append_messages(
  p_channel_id uuid, p_ids uuid[], p_events text[], p_payloads jsonb[], p_senders text[], p_payloads_binary bytea[]
) RETURNS SETOF realtime.messages
LANGUAGE plpgsql AS $$
DECLARE
  v_count integer := cardinality(p_ids);
  v_first bigint;
  v_slug text;
  v_message realtime.messages;
BEGIN
  IF v_count = 0 THEN RETURN; END IF;
  UPDATE realtime.channels SET last_offset = last_offset + v_count
   WHERE id = p_channel_id
   RETURNING last_offset - v_count, slug INTO v_first, v_slug;
  IF v_first IS NULL THEN
    RAISE EXCEPTION 'channel % does not exist', p_channel_id USING ERRCODE = 'no_data_found';
  END IF;
  FOR v_message IN
    INSERT INTO realtime.messages (id, channel_id, channel_offset, event_type, payload, payload_binary, sender_id)
    SELECT m.id, p_channel_id, v_first + m.n, m.event, m.payload, m.payload_binary, m.sender
      FROM unnest(p_ids, p_events, p_payloads, p_senders, p_payloads_binary) WITH ORDINALITY AS m(id, event, payload, sender, payload_binary, n)
     ORDER BY m.n
    RETURNING *
  LOOP
    PERFORM pg_notify('realtime:broadcast', realtime.message_note(v_message, v_slug));
    RETURN NEXT v_message;
  END LOOP;
END
$$;
