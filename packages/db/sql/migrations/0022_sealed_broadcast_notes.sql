-- Broadcast notifications carry their messages sealed (packages/db/src/note-seal.ts): the server
-- encrypts and authenticates each with a key kept here, which no role but the schema's owner (the
-- server's) can read. The server writes those notes itself, after the append gave the message its
-- offset and before it commits, so realtime.append_messages' p_carry becomes p_announce (false: the
-- caller announces), and realtime.carried_note, which put messages in notifications in clear, is gone.
CREATE TABLE realtime.broadcast_note_keys (
  id smallint PRIMARY KEY CHECK (id > 0),
  secret bytea NOT NULL CHECK (octet_length(secret) = 32),
  created_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON realtime.broadcast_note_keys FROM PUBLIC;
DROP FUNCTION IF EXISTS realtime.append_messages(uuid, uuid[], text[], jsonb[], text[], bytea[], boolean);
DROP FUNCTION IF EXISTS realtime.carried_note(realtime.messages);
