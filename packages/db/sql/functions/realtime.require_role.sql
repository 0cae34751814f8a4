-- Lets the caller go on when realtime.acting_role gives it one of `allowed` in the channel (an operator always
-- goes on), and returns that role; else refuses (insufficient_privilege) naming the rule: `only an admin of
-- channel "team" may <action>; the caller is a member` ("a moderator or an admin" when moderators are allowed).
-- Requires: realtime.acting_role
CREATE OR REPLACE FUNCTION realtime.require_role(p_channel_id uuid, topic text, allowed text[], action text)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_role text := realtime.acting_role(p_channel_id);
BEGIN
  IF v_role = 'operator' OR v_role = ANY (allowed) THEN
    RETURN v_role;
  END IF;
  RAISE EXCEPTION 'only % of channel "%" may %; %',
    CASE WHEN 'moderator' = ANY (allowed) THEN 'a moderator or an admin' ELSE 'an admin' END, topic, action,
    CASE WHEN v_role IS NULL THEN 'the caller is not a member' ELSE 'the caller is a ' || v_role END
    USING ERRCODE = 'insufficient_privilege';
END
$$;
