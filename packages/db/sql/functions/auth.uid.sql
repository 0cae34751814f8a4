-- auth.uid() as Supabase's policies use it: the request's user id as a uuid (NULL when there is none, or
-- when it is not a uuid), from the claims the realtime server, PostgREST or Hasura set for the query.
-- Made only where the database has no auth.uid() of its own: Supabase's auth service makes one, and
-- one that anyone else made is left as it is (ours carries the comment that says it is ours).
DO $guard$
BEGIN
  IF to_regprocedure('auth.uid()') IS NOT NULL
     AND coalesce(obj_description(to_regprocedure('auth.uid()'), 'pg_proc'), '') NOT LIKE 'nself realtime:%' THEN
    RETURN;
  END IF;
  IF to_regnamespace('auth') IS NULL THEN
    CREATE SCHEMA auth;
    GRANT USAGE ON SCHEMA auth TO PUBLIC;
  END IF;
  CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $uid$
    SELECT CASE WHEN sub ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN sub::uuid END
      FROM (SELECT coalesce(
              nullif(current_setting('request.jwt.claim.sub', true), ''),
              nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub',
              nullif(current_setting('hasura.user', true), '')::jsonb ->> 'x-hasura-user-id') AS sub) AS request
  $uid$;
  COMMENT ON FUNCTION auth.uid() IS 'nself realtime: the user id of the request''s claims (request.jwt.claim.sub, request.jwt.claims, hasura.user)';
END
$guard$;
