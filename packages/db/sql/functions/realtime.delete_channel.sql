-- Deletes a channel (by its topic) with its members, messages and presence: an admin's or an operator's right alone
-- (realtime.acting_role). Live subscribers are closed with `Channel was deleted` (realtime:access). Refusals name the rule.
-- Requires: realtime.acting_role
CREATE OR REPLACE FUNCTION realtime.delete_channel(topic text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_channel_id uuid;
  v_role text;
BEGIN
  SELECT c.id INTO v_channel_id FROM realtime.channels c WHERE c.slug = topic;
  IF v_channel_id IS NULL THEN
    RAISE EXCEPTION 'no channel "%"', topic USING ERRCODE = 'no_data_found';
  END IF;
  v_role := realtime.acting_role(v_channel_id);
  IF v_role IS NULL OR v_role NOT IN ('operator', 'admin') THEN
    RAISE EXCEPTION 'only an admin of channel "%" may delete it; %', topic,
      CASE WHEN v_role IS NULL THEN 'the caller is not a member' ELSE 'the caller is a ' || v_role END
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  DELETE FROM realtime.channels c WHERE c.id = v_channel_id;
END
$$;
