-- Event names are limited to 255 bytes of UTF-8, not 255 characters: the V2 binary broadcast frame
-- gives the event a one-byte length, so a name of 255 characters but more bytes (200 × "€") could be
-- stored and never delivered to V2 clients. The CHECK is the one place every writer passes (the
-- server, the CLI, and SQL realtime.broadcast). NOT VALID keeps messages stored before; the server
-- skips those it cannot frame for a protocol version and delivers the rest.
ALTER TABLE realtime.messages DROP CONSTRAINT IF EXISTS messages_event_type_check;
ALTER TABLE realtime.messages DROP CONSTRAINT IF EXISTS messages_event_type_at_most_255_bytes;
ALTER TABLE realtime.messages
  ADD CONSTRAINT messages_event_type_at_most_255_bytes CHECK (octet_length(event_type) BETWEEN 1 AND 255) NOT VALID;
