-- auth.uid() for the policies of apps: the request's user id, from the claims the realtime server, PostgREST or
-- Hasura set for the query (NULL when there is none). Made only where the database has no auth.uid() of its own:
-- Supabase's auth service makes one (a uuid), and one that anyone else made is left as it is (ours carries the
-- comment that says it is ours).
--
-- Ours returns text, since user ids here are any text (`user-123` in `channel join general user-123`), so the
-- seed's policy `user_id = auth.uid()` on realtime.channel_members works as written. So that Supabase's
-- policies, which compare it with uuid columns (`rooms_users.user_id = (select auth.uid())`), work too, equality
-- between uuid and text is made in the public schema with it: the text read as a uuid (none when it is not one). Queries that worked before keep their meaning: a uuid compared with a literal still uses uuid's own
-- equality; only comparisons that were errors before (uuid = text) now have an answer.
-- Requires: realtime.request_user_id
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
  IF to_regprocedure('auth.uid()') IS NOT NULL AND (SELECT prorettype FROM pg_proc WHERE oid = to_regprocedure('auth.uid()')) <> 'text'::regtype THEN
    DROP FUNCTION auth.uid();
  END IF;
  CREATE OR REPLACE FUNCTION auth.uid() RETURNS text LANGUAGE sql STABLE AS 'SELECT realtime.request_user_id()';
  COMMENT ON FUNCTION auth.uid() IS 'nself realtime: the user id of the request''s claims (request.jwt.claim.sub, request.jwt.claims, hasura.user)';

  -- The text becomes a uuid (NULL when it is not one) so that the comparison is uuid's own: once the planner
  -- inlines the operator's function, an index on the uuid column serves `id = (select auth.uid())`.
  CREATE OR REPLACE FUNCTION auth.uuid_or_null(text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $cast$
    SELECT CASE WHEN $1 ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN $1::uuid END
  $cast$;
  CREATE OR REPLACE FUNCTION auth.uuid_equals_text(uuid, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 = auth.uuid_or_null($2)';
  CREATE OR REPLACE FUNCTION auth.text_equals_uuid(text, uuid) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $2 = auth.uuid_or_null($1)';
  COMMENT ON FUNCTION auth.uuid_or_null(text) IS 'nself realtime: the text as a uuid, NULL when it is not one';
  COMMENT ON FUNCTION auth.uuid_equals_text(uuid, text) IS 'nself realtime: uuid = text, so that policies compare uuid columns with auth.uid()';
  COMMENT ON FUNCTION auth.text_equals_uuid(text, uuid) IS 'nself realtime: text = uuid, so that policies compare uuid columns with auth.uid()';
  IF to_regoperator('public.=(uuid,text)') IS NULL AND to_regoperator('public.=(text,uuid)') IS NULL THEN
    CREATE OPERATOR public.= (LEFTARG = uuid, RIGHTARG = text, FUNCTION = auth.uuid_equals_text, COMMUTATOR = OPERATOR(public.=), RESTRICT = eqsel, JOIN = eqjoinsel);
    CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = uuid, FUNCTION = auth.text_equals_uuid, COMMUTATOR = OPERATOR(public.=), RESTRICT = eqsel, JOIN = eqjoinsel);
  END IF;
END
$guard$;
