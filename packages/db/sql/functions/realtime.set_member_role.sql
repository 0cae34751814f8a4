-- Adds a user to a channel (by the channel's topic) with a role, or changes a member's role: an admin's
-- or an operator's right alone (realtime.acting_role). The channel's max_members holds
-- (realtime.enforce_max_members); a demoted member loses what the role gave at once. Refusals name the rule.
-- Requires: realtime.channel_id_of, realtime.require_role
CREATE OR REPLACE FUNCTION realtime.set_member_role(topic text, member_user_id text, member_role text DEFAULT 'member')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_channel_id uuid := realtime.channel_id_of(topic);
BEGIN
  IF member_role IS NULL OR member_role NOT IN ('member', 'moderator', 'admin') THEN
    RAISE EXCEPTION 'role is "%"; it must be member, moderator or admin', member_role USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM realtime.require_role(v_channel_id, topic, ARRAY['admin'], 'add members or change roles');
  INSERT INTO realtime.channel_members AS m (channel_id, user_id, role) VALUES (v_channel_id, member_user_id, member_role)
  ON CONFLICT (channel_id, user_id) DO UPDATE SET role = EXCLUDED.role;
END
$$;
