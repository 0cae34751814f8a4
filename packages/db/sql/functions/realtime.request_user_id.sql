-- The user a query acts for, from the settings the realtime server, PostgREST and Hasura make for it:
-- the token's `sub` (request.jwt.claim.sub, request.jwt.claims) or Hasura's x-hasura-user-id
-- (hasura.user); NULL when there is none. Settings are the caller's word: whoever may run SQL may set them.
CREATE OR REPLACE FUNCTION realtime.request_user_id()
RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', ''),
    nullif(nullif(current_setting('hasura.user', true), '')::jsonb ->> 'x-hasura-user-id', ''))
$$;
