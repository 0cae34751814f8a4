-- Runs sequencing rounds until every change visible now has a position.
CREATE OR REPLACE FUNCTION realtime.drain_changes() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_before bigint;
  v_after bigint;
BEGIN
  LOOP
    v_before := (SELECT last_position FROM realtime.capture_state WHERE id);
    v_after := realtime.sequence_changes(10000);
    EXIT WHEN v_after - v_before < 10000;
  END LOOP;
END
$$;
