-- Positions at commit, ordered with the requests for them and kept to READ COMMITTED (docs/capture.md,
-- "Positions at commit").
--
-- Change feeds ask for announcements through realtime.request_announcements(). Before, a writer that
-- found no request and committed just before a feed asked left its changes unlisted, so a later writer
-- that positioned at commit could be numbered before them: the one moment commit order could bend, at
-- every start of announcing. Now each writer looks under a shared advisory lock held until it has
-- committed, against the clock at that moment rather than its transaction's start, and every write of
-- a request takes the lock exclusively; a request that follows a lapse numbers what the writers that
-- found none left before any writer can position. That lets a server stop asking while it has no table
-- change subscriber, so that writers stop paying for positions nobody reads.
--
-- Transactions under REPEATABLE READ or SERIALIZABLE no longer position at commit. Their snapshot is
-- taken at their first statement: while a feed ran, such a writer's commit failed with "could not
-- serialize access due to concurrent update" whenever another writer had positioned since, and the
-- request and the pending changes it read were those of its old snapshot. Capture functions now mark
-- rows at_commit only under READ COMMITTED; unmarked rows are found by every writer that positions.

-- Asks writers to position and announce their changes at commit for the next p_seconds, renewing a
-- request only once less than three quarters of it remain. Every write of the request takes the
-- advisory lock exclusively, waiting at most p_wait_ms for the writers looking at that moment (it fails
-- with lock_not_available after that, and the caller asks again later). After a lapse it first numbers
-- what writers left meanwhile: the backlog before taking the lock, so that writers do not wait for it,
-- and what committed since under the lock, so that no change left by a writer that found no request
-- is numbered after a change positioned at commit.
CREATE FUNCTION realtime.request_announcements(p_seconds integer DEFAULT 60, p_wait_ms integer DEFAULT 100) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_lapsed boolean;
  v_renewed boolean;
  v_lock_timeout text := current_setting('lock_timeout');
BEGIN
  SELECT announce_until IS NULL OR announce_until <= clock_timestamp(),
         coalesce(announce_until > clock_timestamp() + make_interval(secs => p_seconds * 0.75), false)
    INTO v_lapsed, v_renewed FROM realtime.capture_state WHERE id;
  IF v_renewed THEN
    RETURN;
  END IF;
  IF v_lapsed THEN
    PERFORM realtime.drain_changes();
  END IF;
  PERFORM set_config('lock_timeout', p_wait_ms || 'ms', true);
  PERFORM pg_advisory_xact_lock(hashtext('realtime.announcements'));
  PERFORM set_config('lock_timeout', v_lock_timeout, true);
  IF NOT coalesce((SELECT announce_until > clock_timestamp() FROM realtime.capture_state WHERE id), false) THEN
    PERFORM realtime.drain_changes();
  END IF;
  UPDATE realtime.capture_state SET announce_until = clock_timestamp() + make_interval(secs => p_seconds) WHERE id;
END
$$;

-- Runs sequencing rounds until every change visible now has a position.
CREATE FUNCTION realtime.drain_changes() RETURNS void
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

-- As in migration 0008, looking for a request under the shared advisory lock and against the clock, and
-- only under READ COMMITTED (so the access versions it announces are always read at commit).
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
  -- Under REPEATABLE READ or SERIALIZABLE every statement reads the snapshot of the transaction's first:
  -- the request it would find may be stale, locking the capture_state row that another writer updated
  -- since fails the commit, and so would listing the transaction where a round deleted the list.
  -- Capture functions do not mark such rows (below); rows of a function this migration could not
  -- rewrite join the unannounced changes here, which every writer positioning at commit and every round
  -- numbers, in xid order, before anything after them.
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
    IF v_changes IS NOT NULL THEN
      v_table := jsonb_build_array(v_change.schema_name, v_change.table_name)::text;
      IF NOT v_versions ? v_table THEN
        v_versions := v_versions || jsonb_build_object(v_table, realtime.access_version(v_change.schema_name, v_change.table_name));
      END IF;
      v_changes := v_changes || CASE WHEN v_changes = '' THEN '' ELSE ',' END || jsonb_build_object(
        'at', v_change.changed_at, 'op', v_change.operation, 'schema', v_change.schema_name, 'table', v_change.table_name,
        'sub', v_change.subscription_id, 'new', v_change.new_record, 'old', v_change.old_record,
        'pid', v_change.writer_pid, 'version', v_versions ->> v_table)::text;
      IF octet_length(v_changes) >= 7800 THEN v_changes := NULL; END IF;
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

-- Capture functions of notify-mode subscriptions mark their rows at_commit only under READ COMMITTED (as
-- `subscribe` now installs them), and tell a feed to read the log otherwise. A function this role may not
-- replace keeps its marks, and position_at_commit unmarks them at commit.
DO $$
DECLARE
  v_function record;
  v_definition text;
BEGIN
  FOR v_function IN
    SELECT p.oid, s.function_name FROM realtime.subscriptions AS s
      JOIN pg_catalog.pg_proc AS p ON p.proname = s.function_name AND p.pronamespace = 'realtime'::regnamespace
     WHERE s.capture = 'notify'
  LOOP
    v_definition := pg_catalog.pg_get_functiondef(v_function.oid);
    CONTINUE WHEN position('current_setting(''synchronous_commit'') <> ''off''' IN v_definition) = 0;
    v_definition := replace(replace(v_definition,
      'current_setting(''synchronous_commit'') <> ''off''',
      '(current_setting(''synchronous_commit'') <> ''off'' AND current_setting(''transaction_isolation'') = ''read committed'')'),
      'IF current_setting(''synchronous_commit'') = ''off'' THEN',
      'IF current_setting(''synchronous_commit'') = ''off'' OR current_setting(''transaction_isolation'') <> ''read committed'' THEN');
    BEGIN
      EXECUTE v_definition;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE 'capture function realtime.% left as it was (%); position_at_commit unmarks its rows outside READ COMMITTED', v_function.function_name, SQLERRM;
    END;
  END LOOP;
END
$$;
