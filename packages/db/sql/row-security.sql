-- `nself realtime init --rls`: row-level security on the realtime tables an app may expose through Hasura or
-- PostgREST, with policies that show each user (the user of the query's claims, realtime.request_user_id) what is
-- theirs to see: public channels and the channels they are a member of, the messages and presence of those, and
-- their own memberships and connections. Writes go through the functions that enforce the member roles
-- (realtime.set_member_role, remove_member, delete_message), so no role other than the owner writes these tables.
-- The schema's owner (the server, the CLI) is not subject to row-level security. Applying it again changes nothing.
ALTER TABLE realtime.channels ENABLE ROW LEVEL SECURITY;
ALTER TABLE realtime.channel_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE realtime.messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE realtime.presence ENABLE ROW LEVEL SECURITY;
ALTER TABLE realtime.presence_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE realtime.connections ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "nself realtime: own memberships" ON realtime.channel_members;
CREATE POLICY "nself realtime: own memberships" ON realtime.channel_members FOR SELECT
  USING (user_id = realtime.request_user_id());

DROP POLICY IF EXISTS "nself realtime: public channels and channels of a membership" ON realtime.channels;
CREATE POLICY "nself realtime: public channels and channels of a membership" ON realtime.channels FOR SELECT
  USING (type <> 'private' OR id IN (SELECT m.channel_id FROM realtime.channel_members m WHERE m.user_id = realtime.request_user_id()));

DROP POLICY IF EXISTS "nself realtime: messages of visible channels" ON realtime.messages;
CREATE POLICY "nself realtime: messages of visible channels" ON realtime.messages FOR SELECT
  USING (channel_id IN (SELECT c.id FROM realtime.channels c));

DROP POLICY IF EXISTS "nself realtime: presence in visible channels, and one's own" ON realtime.presence;
CREATE POLICY "nself realtime: presence in visible channels, and one's own" ON realtime.presence FOR SELECT
  USING (user_id = realtime.request_user_id() OR channel_id IN (SELECT c.id FROM realtime.channels c));

DROP POLICY IF EXISTS "nself realtime: presence sessions in visible channels" ON realtime.presence_sessions;
CREATE POLICY "nself realtime: presence sessions in visible channels" ON realtime.presence_sessions FOR SELECT
  USING (channel_id IN (SELECT c.id FROM realtime.channels c));

DROP POLICY IF EXISTS "nself realtime: own connections" ON realtime.connections;
CREATE POLICY "nself realtime: own connections" ON realtime.connections FOR SELECT
  USING (user_id = realtime.request_user_id());

GRANT SELECT ON realtime.channels, realtime.channel_members, realtime.messages, realtime.presence, realtime.presence_sessions, realtime.connections TO PUBLIC;
