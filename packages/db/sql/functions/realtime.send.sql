-- Supabase's Broadcast from Database: stores a broadcast on `topic` (the channel whose slug is exactly
-- the topic, made when there is none: private unless `private` is false) and sends it to the topic's
-- subscribers. As on Supabase, it inserts into realtime.messages as the caller, with realtime.topic()
-- set, so a role other than the schema's owner sends what the row-level security policies on
-- realtime.messages let it insert (realtime.place_sent_message places the row); the payload gains an
-- "id" (the message's) when it has none, and a failure becomes a WARNING
-- `ErrorSendingBroadcastMessage: …` instead of aborting the caller's transaction. A message meant for
-- private subscribers (`private`, the default) is not sent to a public channel of that topic.
CREATE OR REPLACE FUNCTION realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_id uuid := gen_random_uuid();
BEGIN
  BEGIN
    PERFORM set_config('realtime.topic', topic, true), set_config('realtime.send_private', private::text, true);
    INSERT INTO realtime.messages (id, event_type, payload, topic, extension)
    VALUES (v_id, event, CASE WHEN jsonb_typeof(payload) = 'object' AND NOT payload ? 'id' THEN payload || jsonb_build_object('id', v_id) ELSE payload END,
            topic, 'broadcast');
    PERFORM set_config('realtime.send_private', '', true);
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'ErrorSendingBroadcastMessage: %', SQLERRM;
  END;
END
$$;
