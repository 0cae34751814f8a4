-- One field of what a broadcast note's signature covers: its UTF-8 length, a colon and the text, or
-- "-" for NULL, so that no two lists of fields read the same (packages/db/src/note-keys.ts builds the same).
CREATE OR REPLACE FUNCTION realtime.note_mac_field(p_value text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_value IS NULL THEN '-' ELSE octet_length(convert_to(p_value, 'UTF8'))::text || ':' || p_value END
$$;
