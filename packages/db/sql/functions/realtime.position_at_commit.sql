-- Positions at commit (docs/capture.md, "Positions at commit"): a capture function's at_commit rows
-- are numbered by their own transaction just before it commits, so that a change feed learns of them
-- from one `realtime:changes` notification. Only under READ COMMITTED, and only while a feed wants
-- announcements (capture_state.announce_until, looked at under a shared advisory lock held until
-- commit: see realtime.request_announcements). Under the capture_state row lock it numbers first every
-- committed change still waiting for a position (those left by other writers, listed per backend in
-- realtime.unpositioned_writers, and unmarked rows), in xid order as a round does, then the
-- transaction's own at_commit changes, and it holds the lock until its commit is visible: positions
-- stay dense, are never given behind a reader, and a change never overtakes one whose commit was
-- visible before this transaction began committing. When another transaction holds the lock it does
-- not wait: it lists its transaction for the next writer or round, so concurrent writers never queue
-- on one another here. An asynchronous commit always leaves its changes: it could be lost in a crash
-- after a reader saw it, and its position given again. The notification carries the positions
-- numbered, never the changes: a feed reads them from the log with its own privileges. The first
-- firing of a transaction numbers all its rows so far; later firings return at once.
CREATE OR REPLACE FUNCTION realtime.position_at_commit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_last bigint;
  v_next bigint;
  v_waiting xid8[];
  v_change record;
  v_through bigint := NEW.id;
  v_read_committed boolean := current_setting('transaction_isolation') = 'read committed';
  v_pending refcursor;
  v_plan_cache_mode text;
  v_enable_seqscan text;
  v_enable_bitmapscan text;
BEGIN
  IF NEW.id <= coalesce(nullif(current_setting('realtime.positioned_through', true), '')::bigint, 0) THEN
    RETURN NULL;
  END IF;
  -- Under REPEATABLE READ or SERIALIZABLE every statement reads the snapshot of the transaction's first:
  -- the request it would find may be stale, locking the capture_state row that another writer updated
  -- since fails the commit, and so would listing the transaction where a round deleted the list.
  -- Capture functions do not mark such rows; a row marked anyway joins the unannounced changes here,
  -- which every writer positioning at commit and every round numbers, in xid order, before anything
  -- after them.
  IF NOT v_read_committed THEN
    UPDATE realtime.changes SET at_commit = false WHERE xid = pg_current_xact_id() AND position IS NULL AND at_commit;
    IF current_setting('realtime.unpositioned_noted', true) IS DISTINCT FROM 'on' THEN
      PERFORM pg_notify('realtime:changes', '{"first":null}');
      PERFORM set_config('realtime.unpositioned_noted', 'on', true);
    END IF;
    RETURN NULL;
  END IF;
  -- Held until this transaction has committed: a request for announcements that follows a lapse
  -- waits for every writer that may have found none, and numbers their changes (request_announcements).
  PERFORM pg_advisory_xact_lock_shared(hashtext('realtime.announcements'));
  IF NOT coalesce((SELECT announce_until > clock_timestamp() FROM realtime.capture_state WHERE id), false) THEN
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
       SELECT c.ctid, c.id, c.xid, 0 AS mine
         FROM realtime.changes AS c WHERE c.xid = ANY (v_waiting) AND c.position IS NULL AND c.at_commit
       UNION ALL
       SELECT c.ctid, c.id, c.xid, 0
         FROM realtime.changes AS c WHERE c.position IS NULL AND NOT c.at_commit AND c.xid <> pg_current_xact_id()
       UNION ALL
       SELECT c.ctid, c.id, c.xid, 1
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
  END LOOP;
  CLOSE v_pending;
  IF v_next = v_last THEN
    RETURN NULL;
  END IF;
  UPDATE realtime.capture_state SET last_position = v_next, sequenced_at = now(), numbered_waiting = v_waiting WHERE id;
  PERFORM set_config('realtime.positioned_through', v_through::text, true);
  PERFORM pg_notify('realtime:changes', '{"first":' || (v_last + 1) || ',"last":' || v_next || '}');
  RETURN NULL;
END
$$;

-- A constraint trigger cannot be replaced in place (CREATE OR REPLACE refuses it).
DROP TRIGGER IF EXISTS changes_position_at_commit ON realtime.changes;
CREATE CONSTRAINT TRIGGER changes_position_at_commit AFTER INSERT ON realtime.changes
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.at_commit AND NEW.position IS NULL)
  EXECUTE FUNCTION realtime.position_at_commit();
