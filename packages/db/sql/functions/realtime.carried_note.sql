-- The `realtime:broadcast` notification of a stored message of a public channel that carries the
-- message itself, so that every server process delivers it without reading it back from
-- realtime.messages: where it is (as realtime.message_note says), the id of the key that signed it,
-- and under "message" its event, sender, time (UTC, as the server's reads parse it) and payload (the
-- jsonb's own text, so a read and the note parse alike and the frames are the same byte for byte), a
-- binary payload in base64. It is signed under p_key as realtime.message_note signs (the MAC first, of
-- the rest of the note's text), so a note altered, copied to another place or made up by a login
-- without the key does not verify.
-- NULL when the note would not stay under 7,000 bytes (NOTIFY refuses 8,000): such a message is
-- announced by realtime.message_note alone. PL/pgSQL rather than SQL: its plan is kept for the
-- session, where a SQL function that cannot be inlined is planned again at every call from
-- realtime.append_messages' loop.
CREATE OR REPLACE FUNCTION realtime.carried_note(p_message realtime.messages, p_key realtime.broadcast_note_keys) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_body text;
  v_note text;
BEGIN
  IF coalesce(p_message.payload_bytes, 0) >= 7000 THEN
    RETURN NULL;
  END IF;
  v_body := json_build_object(
    'id', p_message.id, 'channel_id', p_message.channel_id, 'offset', p_message.channel_offset, 'key', p_key.id,
    'message', json_build_object(
      'event', p_message.event_type,
      'sender', p_message.sender_id,
      'sent_at', to_char(p_message.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00',
      'payload', p_message.payload,
      'payload_binary', translate(encode(p_message.payload_binary, 'base64'), E'\n', '')))::text;
  v_note := '{"mac":"' || encode(sha256(p_key.outer_pad || sha256(p_key.inner_pad || convert_to(v_body, 'UTF8'))), 'hex') || '",' || substr(v_body, 2);
  RETURN CASE WHEN octet_length(v_note) < 7000 THEN v_note END;
END
$$;
