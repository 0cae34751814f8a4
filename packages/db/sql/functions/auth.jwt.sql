-- auth.jwt() as Supabase's policies use it: the request's token claims as jsonb (NULL when there are
-- none), from the settings the realtime server and PostgREST set. Made only where the database has no
-- auth.jwt() of its own, as auth.uid() (functions/auth.uid.sql, which makes the auth schema if needed).
-- Requires: auth.uid
DO $guard$
BEGIN
  IF to_regprocedure('auth.jwt()') IS NOT NULL
     AND coalesce(obj_description(to_regprocedure('auth.jwt()'), 'pg_proc'), '') NOT LIKE 'nself realtime:%' THEN
    RETURN;
  END IF;
  CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $jwt$
    SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''), nullif(current_setting('request.jwt.claims', true), ''))::jsonb
  $jwt$;
  COMMENT ON FUNCTION auth.jwt() IS 'nself realtime: the claims of the request''s token (request.jwt.claims)';
END
$guard$;
