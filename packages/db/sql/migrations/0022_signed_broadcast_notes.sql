-- The key that signs the messages broadcast notifications carry (functions/realtime.carried_note.sql,
-- packages/db/src/note-keys.ts): HMAC-SHA256, kept here with its padded inner and outer keys (RFC 2104)
-- so that SQL signs with core sha256() alone, no extension. No role but the schema's owner (the
-- server's) can read it; the first server to start makes it.
CREATE TABLE realtime.broadcast_note_keys (
  id smallint PRIMARY KEY CHECK (id > 0),
  secret bytea NOT NULL CHECK (octet_length(secret) = 32),
  inner_pad bytea NOT NULL CHECK (octet_length(inner_pad) = 64),
  outer_pad bytea NOT NULL CHECK (octet_length(outer_pad) = 64),
  created_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON realtime.broadcast_note_keys FROM PUBLIC;
-- realtime.carried_note and realtime.message_note take the key (message_note no longer the channel's
-- slug, which it never used): new signatures.
DROP FUNCTION IF EXISTS realtime.carried_note(realtime.messages);
DROP FUNCTION IF EXISTS realtime.message_note(realtime.messages, text);
