-- The id of the channel whose topic (slug) is `topic`, for the moderation functions; a missing one is refused
-- with `no channel "<topic>"` (no_data_found).
CREATE OR REPLACE FUNCTION realtime.channel_id_of(topic text)
RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_channel_id uuid;
BEGIN
  SELECT c.id INTO v_channel_id FROM realtime.channels c WHERE c.slug = topic;
  IF v_channel_id IS NULL THEN
    RAISE EXCEPTION 'no channel "%"', topic USING ERRCODE = 'no_data_found';
  END IF;
  RETURN v_channel_id;
END
$$;
