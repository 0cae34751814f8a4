-- A message inserted into realtime.messages by topic, without a channel (realtime.send, as the caller's
-- role, as on Supabase): before the row is checked against the row-level security policies, it is
-- placed in the channel whose slug is the topic (made when there is none: private unless
-- realtime.send said `private => false` through the transaction's `realtime.send_private`), at the
-- channel's next offset, and announced on `realtime:broadcast` by where it is. SECURITY DEFINER: the
-- caller may not touch realtime.channels; what it may send is what the policies let it insert (a
-- refused row takes its offset and notification with it). A message meant for private subscribers is
-- not put in a public channel of that topic. Rows that come with their channel (the server's appends,
-- its policy probes) never reach this function (the trigger's WHEN).
CREATE OR REPLACE FUNCTION realtime.place_sent_message() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_private boolean := coalesce(nullif(current_setting('realtime.send_private', true), ''), 'true')::boolean;
  v_channel realtime.channels;
BEGIN
  IF NEW.topic IS NULL THEN
    RAISE EXCEPTION 'a message inserted without its channel_id needs its topic' USING ERRCODE = 'not_null_violation';
  END IF;
  SELECT * INTO v_channel FROM realtime.channels c WHERE c.slug = NEW.topic;
  IF v_channel.id IS NULL THEN
    INSERT INTO realtime.channels AS c (slug, name, type, created_by_join)
    VALUES (NEW.topic, NEW.topic, CASE WHEN v_private THEN 'private' ELSE 'public' END, true)
    ON CONFLICT (slug) DO UPDATE SET updated_at = c.updated_at
    RETURNING * INTO v_channel;
  END IF;
  IF v_private AND v_channel.type = 'public' THEN
    RAISE EXCEPTION 'topic "%" is a public channel and the message is private; send it with private => false', NEW.topic;
  END IF;
  NEW.payload_bytes := realtime.checked_payload_bytes(NEW.payload, NEW.payload_binary);
  UPDATE realtime.channels SET last_offset = last_offset + 1 WHERE id = v_channel.id RETURNING last_offset INTO NEW.channel_offset;
  NEW.channel_id := v_channel.id;
  PERFORM pg_notify('realtime:broadcast', realtime.message_note(NEW, realtime.note_key()));
  RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER place_sent_message BEFORE INSERT ON realtime.messages
  FOR EACH ROW WHEN (NEW.channel_id IS NULL) EXECUTE FUNCTION realtime.place_sent_message();
