-- The `realtime:broadcast` notification of a stored message: where it is, never what it says. Signed
-- under p_key (realtime.signed_note) when there is one (realtime.note_key: the schema's owner and the
-- SECURITY DEFINER paths read it), so that servers take positions only from notes no other login could
-- have made (packages/db/src/note-keys.ts).
CREATE OR REPLACE FUNCTION realtime.message_note(p_message realtime.messages, p_key realtime.broadcast_note_keys) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF p_key.id IS NULL THEN
    RETURN jsonb_build_object('id', p_message.id, 'channel_id', p_message.channel_id, 'offset', p_message.channel_offset)::text;
  END IF;
  RETURN realtime.signed_note(
    json_build_object('id', p_message.id, 'channel_id', p_message.channel_id, 'offset', p_message.channel_offset, 'key', p_key.id)::text, p_key);
END
$$;
