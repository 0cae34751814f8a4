-- Changes a channel's type and/or metadata (by its topic; NULL leaves one as it is): an admin's or an operator's
-- right alone (realtime.acting_role). A channel made private closes its live subscribers that are not members
-- (realtime:access); `max_members` in the metadata must be a whole number of 1 or more, and
-- `retention_hours` a number of 0 or more. Refusals name the rule.
-- Requires: realtime.channel_id_of, realtime.require_role
CREATE OR REPLACE FUNCTION realtime.update_channel(topic text, channel_type text DEFAULT NULL, channel_metadata jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_channel_id uuid := realtime.channel_id_of(topic);
BEGIN
  PERFORM realtime.require_role(v_channel_id, topic, ARRAY['admin'], 'change its type or settings');
  IF channel_type IS NOT NULL AND channel_type NOT IN ('public', 'private', 'presence') THEN
    RAISE EXCEPTION 'channel type is "%"; it must be public, private or presence', channel_type USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF channel_metadata IS NOT NULL THEN
    IF jsonb_typeof(channel_metadata) <> 'object' THEN
      RAISE EXCEPTION 'channel metadata must be a JSON object, e.g. {"max_members": 10}' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF channel_metadata ? 'max_members' AND channel_metadata -> 'max_members' <> 'null'::jsonb
       AND NOT (jsonb_typeof(channel_metadata -> 'max_members') = 'number' AND (channel_metadata ->> 'max_members') ~ '^[1-9][0-9]*$') THEN
      RAISE EXCEPTION 'channel metadata "max_members" is %; it must be a whole number of members, 1 or more', channel_metadata -> 'max_members'
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF channel_metadata ? 'retention_hours' AND channel_metadata -> 'retention_hours' <> 'null'::jsonb
       AND NOT (jsonb_typeof(channel_metadata -> 'retention_hours') = 'number' AND (channel_metadata ->> 'retention_hours')::numeric >= 0) THEN
      RAISE EXCEPTION 'channel metadata "retention_hours" is %; it must be a number of hours, 0 or more', channel_metadata -> 'retention_hours'
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END IF;
  UPDATE realtime.channels c
     SET type = coalesce(channel_type, c.type), metadata = coalesce(channel_metadata, c.metadata), created_by_join = false, updated_at = now()
   WHERE c.id = v_channel_id;
END
$$;
