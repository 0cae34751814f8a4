-- Broadcasts from SQL (an app's own functions and triggers): the channel whose slug is exactly p_channel (its topic), or whose id it is.
CREATE OR REPLACE FUNCTION realtime.broadcast(p_channel text, p_event text, p_payload jsonb, p_sender text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_channel_id uuid;
BEGIN
  SELECT id INTO v_channel_id FROM realtime.channels WHERE slug = p_channel OR id::text = p_channel;
  IF v_channel_id IS NULL THEN
    RAISE EXCEPTION 'channel "%" does not exist', p_channel USING ERRCODE = 'no_data_found';
  END IF;
  RETURN (realtime.append_message(v_channel_id, p_event, p_payload, p_sender)).channel_offset;
END
$$;
