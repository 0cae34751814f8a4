-- What roles other than the schema's owner may use of the realtime schema: applied after every
-- migration run, once EXECUTE on all of its functions was revoked from PUBLIC. Supabase apps call
-- these as their own roles (anon, authenticated, a trigger's writer): realtime.topic() and auth.uid() in the policies
-- the server probes, realtime.send() and realtime.broadcast_changes() in triggers. The probes read and
-- insert realtime.messages as the token's role, where row-level security shows each role only what a
-- policy allows (nothing without one).
GRANT USAGE ON SCHEMA realtime TO PUBLIC;
GRANT SELECT, INSERT ON realtime.messages TO PUBLIC;
GRANT EXECUTE ON FUNCTION realtime.topic() TO PUBLIC;
-- auth.uid() (functions/auth.uid.sql) reads the caller's own claims through it.
GRANT EXECUTE ON FUNCTION realtime.request_user_id() TO PUBLIC;
GRANT EXECUTE ON FUNCTION realtime.send(jsonb, text, text, boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION realtime.broadcast_changes(text, text, text, text, text, record, record, text) TO PUBLIC;
