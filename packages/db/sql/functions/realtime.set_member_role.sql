-- Adds a user to a channel (by the channel's topic) with a role, or changes a member's role: an admin's
-- or an operator's right alone (realtime.acting_role). The channel's max_members holds
-- (realtime.enforce_max_members); a demoted member loses what the role gave at once. Refusals name the rule.
-- Requires: realtime.acting_role
CREATE OR REPLACE FUNCTION realtime.set_member_role(topic text, member_user_id text, member_role text DEFAULT 'member')
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
  IF member_role IS NULL OR member_role NOT IN ('member', 'moderator', 'admin') THEN
    RAISE EXCEPTION 'role is "%"; it must be member, moderator or admin', member_role USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_role := realtime.acting_role(v_channel_id);
  IF v_role IS NULL OR v_role NOT IN ('operator', 'admin') THEN
    RAISE EXCEPTION 'only an admin of channel "%" may add members or change roles; %', topic,
      CASE WHEN v_role IS NULL THEN 'the caller is not a member' ELSE 'the caller is a ' || v_role END
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO realtime.channel_members AS m (channel_id, user_id, role) VALUES (v_channel_id, member_user_id, member_role)
  ON CONFLICT (channel_id, user_id) DO UPDATE SET role = EXCLUDED.role;
END
$$;
