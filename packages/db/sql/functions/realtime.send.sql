-- Supabase's Broadcast from Database: stores a broadcast on `topic` (the channel whose slug is exactly
-- the topic, made when there is none: private unless `private` is false) and sends it to the topic's
-- subscribers. As on Supabase, the payload gains an "id" (the message's) when it has none, and a
-- failure becomes a WARNING `ErrorSendingBroadcastMessage: …` instead of aborting the caller's
-- transaction. A message meant for private subscribers (`private`, the default) is not sent to a
-- public channel of that topic.
CREATE OR REPLACE FUNCTION realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_id uuid := gen_random_uuid();
  v_channel realtime.channels;
BEGIN
  BEGIN
    SELECT * INTO v_channel FROM realtime.channels c WHERE c.slug = topic;
    IF v_channel.id IS NULL THEN
      INSERT INTO realtime.channels AS c (slug, name, type, created_by_join)
      VALUES (topic, topic, CASE WHEN private THEN 'private' ELSE 'public' END, true)
      ON CONFLICT (slug) DO UPDATE SET updated_at = c.updated_at
      RETURNING * INTO v_channel;
    END IF;
    IF private AND v_channel.type = 'public' THEN
      RAISE EXCEPTION 'topic "%" is a public channel and the message is private; send it with private => false', topic;
    END IF;
    PERFORM realtime.append_messages(
      v_channel.id, ARRAY[v_id], ARRAY[event],
      ARRAY[CASE WHEN jsonb_typeof(payload) = 'object' AND NOT payload ? 'id' THEN payload || jsonb_build_object('id', v_id) ELSE payload END],
      ARRAY[NULL::text], ARRAY[NULL::bytea]);
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'ErrorSendingBroadcastMessage: %', SQLERRM;
  END;
END
$$;
