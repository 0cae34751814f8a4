-- realtime.append_messages gains p_carry (the server's appends may carry each message in its
-- notification, functions/realtime.carried_note.sql): a new parameter is a new signature, so the old
-- one is dropped here and functions/realtime.append_messages.sql makes the new one.
DROP FUNCTION IF EXISTS realtime.append_messages(uuid, uuid[], text[], jsonb[], text[], bytea[]);
