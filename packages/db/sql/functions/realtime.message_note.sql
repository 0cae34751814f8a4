-- The `realtime:broadcast` notification of a stored message: where it is, never what it says. Once a
-- server has made the database's note key (realtime.broadcast_note_keys) and the caller may read it
-- (the schema's owner, and the SECURITY DEFINER paths), the note begins with "mac": HMAC-SHA256 under
-- the newest key of the rest of its text, as realtime.carried_note signs, so that servers take
-- positions only from notes no other login could have made (packages/db/src/note-keys.ts).
CREATE OR REPLACE FUNCTION realtime.message_note(p_message realtime.messages, p_slug text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_key realtime.broadcast_note_keys;
  v_body text;
BEGIN
  IF has_table_privilege('realtime.broadcast_note_keys', 'SELECT') THEN
    SELECT * INTO v_key FROM realtime.broadcast_note_keys ORDER BY id DESC LIMIT 1;
  END IF;
  IF v_key.id IS NULL THEN
    RETURN jsonb_build_object('id', p_message.id, 'channel_id', p_message.channel_id, 'offset', p_message.channel_offset)::text;
  END IF;
  v_body := json_build_object('id', p_message.id, 'channel_id', p_message.channel_id, 'offset', p_message.channel_offset, 'key', v_key.id)::text;
  RETURN '{"mac":"' || encode(sha256(v_key.outer_pad || sha256(v_key.inner_pad || convert_to(v_body, 'UTF8'))), 'hex') || '",' || substr(v_body, 2);
END
$$;
