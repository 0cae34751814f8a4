-- Writers that left their changes unpositioned are listed per backend, not per transaction
-- (docs/capture.md, "Positions at commit"). realtime.unpositioned_commits took an insert from every
-- transaction that found the position lock taken and a delete from the next writer to position; the
-- dead rows stayed until a vacuum, and every positioning writer scanned them: after a minute of 8
-- concurrent writers, 5 MB, which cost each later single-row transaction 0.4 ms more. Each backend
-- now keeps one row that only it updates, and sequencing rounds drop the lists they have numbered.

-- The transactions of a backend (pid) that left their at_commit changes unpositioned while a feed
-- wanted announcements; the next writer to position numbers their changes first. Only the backend
-- itself updates its row, so no writer waits on another here and updates stay on their page.
CREATE TABLE realtime.unpositioned_writers (
  pid integer PRIMARY KEY,
  xids xid8[] NOT NULL
) WITH (fillfactor = 50);

-- The listed transactions whose changes the last writer to position numbered: a backend drops those
-- from its list when it next extends it (every later writer numbers, and names here, every
-- transaction still listed, so a transaction leaves its list only once its changes are numbered).
ALTER TABLE realtime.capture_state ADD COLUMN numbered_waiting xid8[] NOT NULL DEFAULT '{}';

-- Transactions listed before this migration keep their place (pid 0 is no backend's).
INSERT INTO realtime.unpositioned_writers
  SELECT 0, array_agg(xid) FROM realtime.unpositioned_commits HAVING count(*) > 0;
DROP TABLE realtime.unpositioned_commits;

-- As in migration 0006, with the waiting transactions read from realtime.unpositioned_writers, and
-- each change numbered through its tuple id.
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
  -- plan that scans the whole log).
  FOR v_change IN
    SELECT * FROM (
       SELECT c.ctid, c.id, c.xid, c.changed_at, c.operation, c.schema_name, c.table_name, c.subscription_id, c.new_record, c.old_record, c.writer_pid, 0 AS mine
         FROM realtime.changes AS c WHERE c.xid = ANY (v_waiting) AND c.position IS NULL AND c.at_commit
       UNION ALL
       SELECT c.ctid, c.id, c.xid, c.changed_at, c.operation, c.schema_name, c.table_name, c.subscription_id, c.new_record, c.old_record, c.writer_pid, 0
         FROM realtime.changes AS c WHERE c.position IS NULL AND NOT c.at_commit AND c.xid <> pg_current_xact_id()
       UNION ALL
       SELECT c.ctid, c.id, c.xid, c.changed_at, c.operation, c.schema_name, c.table_name, c.subscription_id, c.new_record, c.old_record, c.writer_pid, 1
         FROM realtime.changes AS c WHERE c.xid = pg_current_xact_id() AND c.position IS NULL AND c.at_commit
     ) AS pending ORDER BY pending.mine, pending.xid, pending.id
  LOOP
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

-- The sequencer as in migration 0006, which forgets the lists of transactions it has numbered.
CREATE OR REPLACE FUNCTION realtime.sequence_changes(p_limit integer DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_last bigint;
  v_count bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM realtime.changes WHERE position IS NULL)
     AND (SELECT counted_through = last_position FROM realtime.capture_state) THEN
    RETURN (SELECT last_position FROM realtime.capture_state);
  END IF;
  SELECT last_position INTO v_last FROM realtime.capture_state FOR UPDATE;
  PERFORM realtime.count_positioned_changes(v_last);
  WITH pending AS (
    SELECT id, row_number() OVER (ORDER BY xid, id) AS n
      FROM (SELECT id, xid FROM realtime.changes WHERE position IS NULL ORDER BY xid, id LIMIT p_limit) AS oldest
  ), numbered AS (
    UPDATE realtime.changes AS c SET position = v_last + pending.n
      FROM pending WHERE c.id = pending.id
    RETURNING c.subscription_id, c.changed_at
  ), counted AS (
    UPDATE realtime.subscriptions AS s
       SET changes_seen = s.changes_seen + totals.n, last_change_at = greatest(s.last_change_at, totals.latest)
      FROM (SELECT subscription_id, count(*) AS n, max(changed_at) AS latest FROM numbered GROUP BY subscription_id) AS totals
     WHERE s.id = totals.subscription_id
    RETURNING 1
  ), forgotten AS (
    -- Lists as this snapshot sees them, once it has numbered everything: a list its backend extends
    -- meanwhile names a transaction this snapshot cannot see, and stays.
    DELETE FROM realtime.unpositioned_writers AS w
     USING (SELECT s.pid, s.xids FROM realtime.unpositioned_writers AS s) AS seen
     WHERE w.pid = seen.pid AND w.xids = seen.xids AND (SELECT count(*) FROM pending) < p_limit
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM numbered) INTO v_count;
  IF v_count > 0 THEN
    UPDATE realtime.capture_state SET last_position = v_last + v_count, counted_through = v_last + v_count, sequenced_at = now();
  END IF;
  RETURN v_last + v_count;
END
$$;
