-- The `realtime:broadcast` notification of a stored message: where it is, never what it says.
CREATE OR REPLACE FUNCTION realtime.message_note(p_message realtime.messages, p_slug text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', p_message.id, 'channel_id', p_message.channel_id, 'offset', p_message.channel_offset)::text
$$;
