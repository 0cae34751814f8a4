-- What the caller may do in a channel: its member role there ('member', 'moderator', 'admin'), or
-- 'operator' (everything, as the CLI) for the service role (a token with role service_role) and for a
-- login of the schema's owner acting for no user; NULL for anyone else. The moderation functions decide
-- by it, so the same rules hold over REST (the server sets the token's claims) and SQL.
-- Requires: realtime.request_user_id
CREATE OR REPLACE FUNCTION realtime.acting_role(p_channel_id uuid)
RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role') = 'service_role' THEN 'operator'
    WHEN realtime.request_user_id() IS NULL THEN
      CASE WHEN pg_has_role(session_user, (SELECT n.nspowner FROM pg_namespace n WHERE n.nspname = 'realtime'), 'MEMBER') THEN 'operator' END
    ELSE (SELECT m.role FROM realtime.channel_members m WHERE m.channel_id = p_channel_id AND m.user_id = realtime.request_user_id())
  END
$$;
