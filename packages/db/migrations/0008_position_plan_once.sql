-- position_at_commit plans its query of pending changes once per session instead of at every call
-- (docs/capture.md, "Positions at commit"). PL/pgSQL made a custom plan of it at every transaction that
-- positioned, since with an empty list of waiting transactions the custom plan always looked cheaper
-- than the generic one: about a fifth of the writer's CPU per single-row transaction. The generic plan
-- is now forced, and made with sequential and bitmap scans disabled: a plan made while the log is
-- empty (just after an ANALYZE of it) uses the log's indexes as the log grows, and plain index scans
-- mark the dead entries they meet, which bitmap scans never do (with 300,000 dead entries left in the
-- partial index of unannounced changes, a bitmap scan took 57 ms at every call, an index scan 67 ms
-- once and 3.5 ms after). The settings are restored before anything else is planned (the access
-- version's catalog queries need sequential scans).

-- As in migration 0007, with the query of pending changes opened as a cursor under those settings.
CREATE OR REPLACE FUNCTION realtime.position_at_commit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_last bigint;
  v_next bigint;
  v_waiting xid8[];
  v_change record;
  v_through bigint := NEW.id;
  v_read_committed boolean := current_setting('transaction_isolation') = 'read committed';
  v_versions jsonb := '{}';
  v_table text;
  v_changes text := '';
  v_pending refcursor;
  v_plan_cache_mode text;
  v_enable_seqscan text;
  v_enable_bitmapscan text;
BEGIN
  IF NEW.id <= coalesce(nullif(current_setting('realtime.positioned_through', true), '')::bigint, 0) THEN
    RETURN NULL;
  END IF;
  IF NOT coalesce((SELECT announce_until > now() FROM realtime.capture_state WHERE id), false) THEN
    RETURN NULL;
  END IF;
  IF current_setting('synchronous_commit') <> 'off' THEN
    SELECT last_position INTO v_last FROM realtime.capture_state WHERE id FOR UPDATE SKIP LOCKED;
  END IF;
  IF v_last IS NULL THEN
    -- Left to the next writer or round, listed; a feed is only told to read the log.
    IF current_setting('realtime.unpositioned_noted', true) IS DISTINCT FROM 'on' THEN
      INSERT INTO realtime.unpositioned_writers AS w VALUES (pg_backend_pid(), ARRAY[pg_current_xact_id()])
      ON CONFLICT (pid) DO UPDATE SET xids = ARRAY(
        SELECT x FROM unnest(w.xids) AS x, realtime.capture_state AS cs WHERE cs.id AND NOT x = ANY (cs.numbered_waiting)
      ) || pg_current_xact_id();
      PERFORM pg_notify('realtime:changes', '{"first":null}');
      PERFORM set_config('realtime.unpositioned_noted', 'on', true);
    END IF;
    RETURN NULL;
  END IF;
  v_waiting := ARRAY(SELECT x FROM realtime.unpositioned_writers AS w, unnest(w.xids) AS x WHERE x <> pg_current_xact_id());
  v_next := v_last;
  -- One change at a time, each numbered through its tuple id (a set-based UPDATE … FROM gets a generic
  -- plan that scans the whole log). The query of pending changes keeps one plan for the session, made
  -- with index scans only, so that a plan made while the log was empty stays an index plan as it grows.
  v_plan_cache_mode := current_setting('plan_cache_mode');
  v_enable_seqscan := current_setting('enable_seqscan');
  v_enable_bitmapscan := current_setting('enable_bitmapscan');
  PERFORM set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true),
    set_config('enable_bitmapscan', 'off', true);
  OPEN v_pending FOR
    SELECT * FROM (
       SELECT c.ctid, c.id, c.xid, c.changed_at, c.operation, c.schema_name, c.table_name, c.subscription_id, c.new_record, c.old_record, c.writer_pid, 0 AS mine
         FROM realtime.changes AS c WHERE c.xid = ANY (v_waiting) AND c.position IS NULL AND c.at_commit
       UNION ALL
       SELECT c.ctid, c.id, c.xid, c.changed_at, c.operation, c.schema_name, c.table_name, c.subscription_id, c.new_record, c.old_record, c.writer_pid, 0
         FROM realtime.changes AS c WHERE c.position IS NULL AND NOT c.at_commit AND c.xid <> pg_current_xact_id()
       UNION ALL
       SELECT c.ctid, c.id, c.xid, c.changed_at, c.operation, c.schema_name, c.table_name, c.subscription_id, c.new_record, c.old_record, c.writer_pid, 1
         FROM realtime.changes AS c WHERE c.xid = pg_current_xact_id() AND c.position IS NULL AND c.at_commit
     ) AS pending ORDER BY pending.mine, pending.xid, pending.id;
  PERFORM set_config('plan_cache_mode', v_plan_cache_mode, true), set_config('enable_seqscan', v_enable_seqscan, true),
    set_config('enable_bitmapscan', v_enable_bitmapscan, true);
  LOOP
    FETCH v_pending INTO v_change;
    EXIT WHEN NOT FOUND;
    v_next := v_next + 1;
    -- Nobody else writes these rows meanwhile: they are this transaction's, or committed ones that
    -- only the holder of the capture_state lock numbers.
    UPDATE realtime.changes SET position = v_next WHERE ctid = v_change.ctid;
    IF v_change.mine = 1 THEN v_through := greatest(v_through, v_change.id); END IF;
    IF v_changes IS NOT NULL AND v_read_committed THEN
      v_table := jsonb_build_array(v_change.schema_name, v_change.table_name)::text;
      IF NOT v_versions ? v_table THEN
        v_versions := v_versions || jsonb_build_object(v_table, realtime.access_version(v_change.schema_name, v_change.table_name));
      END IF;
      v_changes := v_changes || CASE WHEN v_changes = '' THEN '' ELSE ',' END || jsonb_build_object(
        'at', v_change.changed_at, 'op', v_change.operation, 'schema', v_change.schema_name, 'table', v_change.table_name,
        'sub', v_change.subscription_id, 'new', v_change.new_record, 'old', v_change.old_record,
        'pid', v_change.writer_pid, 'version', v_versions ->> v_table)::text;
      IF octet_length(v_changes) >= 7800 THEN v_changes := NULL; END IF;
    ELSE
      v_changes := NULL;
    END IF;
  END LOOP;
  CLOSE v_pending;
  IF v_next = v_last THEN
    RETURN NULL;
  END IF;
  UPDATE realtime.capture_state SET last_position = v_next, sequenced_at = now(), numbered_waiting = v_waiting WHERE id;
  PERFORM set_config('realtime.positioned_through', v_through::text, true);
  PERFORM pg_notify('realtime:changes', '{"first":' || (v_last + 1) || ',"last":' || v_next
    || CASE WHEN v_changes IS NULL THEN '' ELSE ',"changes":[' || v_changes || ']' END || '}');
  RETURN NULL;
END
$$;
