-- Supabase's authorisation of private channels: row-level security policies on realtime.messages,
-- written as Supabase's documentation shows them, decide who may read and write a topic. The server
-- asks them with probe rows it inserts and rolls back (packages/db/src/topic-policies.ts): `topic`
-- and `extension` are what a probe asks about, and what policies test. Stored broadcasts leave both
-- empty (their channel_id says where they belong), so they cost nothing there.
--
-- Row-level security is on, so a role other than the table's owner sees and inserts only what a
-- policy allows, and nothing without one; the owner (the server's database user) is not subject to it.
ALTER TABLE realtime.messages
  ADD COLUMN topic text,
  ADD COLUMN extension text CONSTRAINT messages_extension_check CHECK (extension IN ('broadcast', 'presence'));
ALTER TABLE realtime.messages ENABLE ROW LEVEL SECURITY;
