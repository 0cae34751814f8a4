-- The newest key of realtime.broadcast_note_keys, which signs `realtime:broadcast` notifications
-- ; a row of NULLs when there is none yet (the first server to start makes it) or
-- the caller may not read the table. Read once per statement that stores messages, not per message.
CREATE OR REPLACE FUNCTION realtime.note_key() RETURNS realtime.broadcast_note_keys
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_key realtime.broadcast_note_keys;
BEGIN
  IF has_table_privilege('realtime.broadcast_note_keys', 'SELECT') THEN
    SELECT * INTO v_key FROM realtime.broadcast_note_keys ORDER BY id DESC LIMIT 1;
  END IF;
  RETURN v_key;
END
$$;
