-- Removes a user from a channel (by the channel's topic): any member may leave, a moderator may remove
-- members (not moderators or admins), an admin or an operator anyone (realtime.acting_role). The
-- servers close the removed user's live channel at once (realtime:access). Refusals name the rule.
-- Requires: realtime.acting_role, realtime.channel_id_of, realtime.request_user_id
CREATE OR REPLACE FUNCTION realtime.remove_member(topic text, member_user_id text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_channel_id uuid := realtime.channel_id_of(topic);
  v_role text;
  v_target_role text;
BEGIN
  SELECT m.role INTO v_target_role FROM realtime.channel_members m WHERE m.channel_id = v_channel_id AND m.user_id = member_user_id;
  IF v_target_role IS NULL THEN
    RAISE EXCEPTION 'user "%" is not a member of channel "%"', member_user_id, topic USING ERRCODE = 'no_data_found';
  END IF;
  v_role := realtime.acting_role(v_channel_id);
  -- IS NOT TRUE: for a caller who is not a member (v_role NULL) the test is NULL, which refuses too.
  IF (v_role IN ('operator', 'admin')
      OR (v_role = 'moderator' AND v_target_role = 'member')
      OR (v_role IS NOT NULL AND member_user_id = realtime.request_user_id())) IS NOT TRUE THEN
    RAISE EXCEPTION 'only an admin of channel "%" may remove its %s (a moderator may remove members); %', topic, v_target_role,
      CASE WHEN v_role IS NULL THEN 'the caller is not a member' ELSE 'the caller is a ' || v_role END
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  DELETE FROM realtime.channel_members m WHERE m.channel_id = v_channel_id AND m.user_id = member_user_id;
END
$$;
