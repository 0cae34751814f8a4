-- Channel names and slugs hold no control characters (C0, DEL, C1) and no bidirectional overrides or
-- isolates (U+202A–U+202E, U+2066–U+2069): they are printed by operators' terminals, where such
-- characters move the cursor, clear the screen or reorder text (docs/security.md). The server and the
-- CLI refuse them with a clear error before inserting; this CHECK covers channels created by SQL.
--
-- Rows stored before this migration are repaired first rather than left to fail the CHECK: each such
-- character becomes U+FFFD in a name and "_" in a slug (a repaired slug already taken gets the
-- channel id's first eight characters appended, since slugs are unique).

UPDATE realtime.channels
   SET name = regexp_replace(name, '[\u0001-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]', U&'\FFFD', 'g')
 WHERE name ~ '[\u0001-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]';

UPDATE realtime.channels c
   SET slug = CASE
         WHEN EXISTS (SELECT 1 FROM realtime.channels o
                       WHERE o.slug = regexp_replace(c.slug, '[\u0001-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]', '_', 'g'))
           THEN regexp_replace(c.slug, '[\u0001-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]', '_', 'g') || '-' || left(c.id::text, 8)
         ELSE regexp_replace(c.slug, '[\u0001-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]', '_', 'g')
       END
 WHERE c.slug ~ '[\u0001-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]';

ALTER TABLE realtime.channels DROP CONSTRAINT IF EXISTS channels_printable_names;
ALTER TABLE realtime.channels ADD CONSTRAINT channels_printable_names
  CHECK (name !~ '[\u0001-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]'
     AND slug !~ '[\u0001-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]');
