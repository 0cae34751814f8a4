-- Appends the messages (p_ids[i], p_events[i], p_payloads[i], p_senders[i], p_payloads_binary[i]) to a
-- channel in array order with consecutive offsets, as realtime.append_message would one after another
-- in one transaction (the channel row is locked once), and returns them in offset order. The ids are
-- the caller's, so it can recognise its own messages in notifications that arrive before the reply.
-- A payload over the limit fails the whole call before anything is stored. With p_carry, on a public
-- channel, once a server has made the signing key, each notification carries its message, signed,
-- when it fits (realtime.carried_note); else, and always on private and presence channels, whose
-- messages no database login may read, it says where the message is.
CREATE OR REPLACE FUNCTION realtime.append_messages(
  p_channel_id uuid, p_ids uuid[], p_events text[], p_payloads jsonb[], p_senders text[], p_payloads_binary bytea[],
  p_carry boolean DEFAULT false
) RETURNS SETOF realtime.messages
LANGUAGE plpgsql AS $$
DECLARE
  v_count integer := cardinality(p_ids);
  v_bytes integer[];
  v_first bigint;
  v_type text;
  v_key realtime.broadcast_note_keys := realtime.note_key();
  v_carry boolean;
  v_message realtime.messages;
BEGIN
  IF v_count = 0 THEN RETURN; END IF;
  v_bytes := ARRAY(
    SELECT realtime.checked_payload_bytes(m.payload, m.payload_binary)
      FROM unnest(p_payloads, p_payloads_binary) WITH ORDINALITY AS m(payload, payload_binary, n)
     ORDER BY m.n);
  UPDATE realtime.channels SET last_offset = last_offset + v_count
   WHERE id = p_channel_id
   RETURNING last_offset - v_count, type INTO v_first, v_type;
  IF v_first IS NULL THEN
    RAISE EXCEPTION 'channel % does not exist', p_channel_id USING ERRCODE = 'no_data_found';
  END IF;
  v_carry := p_carry AND v_type = 'public' AND v_key.id IS NOT NULL;
  FOR v_message IN
    INSERT INTO realtime.messages (id, channel_id, channel_offset, event_type, payload, payload_binary, sender_id, payload_bytes)
    SELECT m.id, p_channel_id, v_first + m.n, m.event, m.payload, m.payload_binary, m.sender, v_bytes[m.n]
      FROM unnest(p_ids, p_events, p_payloads, p_senders, p_payloads_binary) WITH ORDINALITY AS m(id, event, payload, sender, payload_binary, n)
     ORDER BY m.n
    RETURNING *
  LOOP
    PERFORM pg_notify('realtime:broadcast',
      coalesce(CASE WHEN v_carry THEN realtime.carried_note(v_message, v_key) END, realtime.message_note(v_message, v_key)));
    RETURN NEXT v_message;
  END LOOP;
END
$$;
