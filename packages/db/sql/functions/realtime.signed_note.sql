-- A `realtime:broadcast` notification signed under p_key: `{"mac":"<HMAC-SHA256 in hex>",` followed by
-- p_body (a JSON object's text) after its `{`, the MAC being of p_body itself, so a server checks it
-- against the rest of the note as received (packages/db/src/note-keys.ts). Core sha256() with the
-- padded inner and outer keys stored beside the secret (RFC 2104): no extension needed.
CREATE OR REPLACE FUNCTION realtime.signed_note(p_body text, p_key realtime.broadcast_note_keys) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT '{"mac":"' || encode(sha256(p_key.outer_pad || sha256(p_key.inner_pad || convert_to(p_body, 'UTF8'))), 'hex') || '",' || substr(p_body, 2)
$$;
