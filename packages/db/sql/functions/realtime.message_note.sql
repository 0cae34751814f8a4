-- The `realtime:broadcast` notification of a stored message: where it is, never what it says. Signed
-- under p_key when there is one (realtime.note_key: the schema's owner and the SECURITY DEFINER paths
-- read it), so that servers take positions only from notes no other login could have made: the note is
-- `{"mac":"<HMAC-SHA256 in hex>",` then the rest of the body, the MAC being of the body's own text, as
-- realtime.carried_note signs (packages/db/src/note-keys.ts checks both). Core sha256() with the padded
-- inner and outer keys stored beside the secret (RFC 2104): no extension needed. The HMAC's one line is
-- written out here and in realtime.carried_note, so that each note stays one PL/pgSQL call.
CREATE OR REPLACE FUNCTION realtime.message_note(p_message realtime.messages, p_key realtime.broadcast_note_keys) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_body text;
BEGIN
  IF p_key.id IS NULL THEN
    RETURN jsonb_build_object('id', p_message.id, 'channel_id', p_message.channel_id, 'offset', p_message.channel_offset)::text;
  END IF;
  v_body := json_build_object('id', p_message.id, 'channel_id', p_message.channel_id, 'offset', p_message.channel_offset, 'key', p_key.id)::text;
  RETURN '{"mac":"' || encode(sha256(p_key.outer_pad || sha256(p_key.inner_pad || convert_to(v_body, 'UTF8'))), 'hex') || '",' || substr(v_body, 2);
END
$$;
