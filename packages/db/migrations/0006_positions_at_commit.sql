-- Positions given at the writer's commit, announced with the changes: a notify-mode transaction that
-- commits synchronously numbers its own changes just before it commits and sends them, positioned,
-- in one `realtime:changes` notification, so a change feed delivers them without reading the log
-- (docs/capture.md, "Positions at commit").

-- True for rows that their own transaction positions at commit (notify mode, synchronous commit);
-- the others are positioned by realtime.sequence_changes() or the next writer positioning at commit.
ALTER TABLE realtime.changes ADD COLUMN at_commit boolean NOT NULL DEFAULT false;
-- The committed changes a writer positioning at commit must number before its own, found without
-- walking the at_commit rows (poll mode, capture functions from before this migration).
CREATE INDEX changes_unannounced_idx ON realtime.changes (xid, id) WHERE position IS NULL AND NOT at_commit;

-- True when the subscription's capture function marks its rows at_commit, so that every transaction
-- writing them sends a `realtime:changes` notification and a feed needs no LISTEN on the table's channel.
ALTER TABLE realtime.subscriptions ADD COLUMN announced_at_commit boolean NOT NULL DEFAULT false;

-- Changes positioned at commit are counted in realtime.subscriptions later, by the sequencer, so that
-- writers of one table do not queue on its subscription row: every change up to counted_through is in
-- the counts.
ALTER TABLE realtime.capture_state ADD COLUMN counted_through bigint;
UPDATE realtime.capture_state SET counted_through = last_position;
ALTER TABLE realtime.capture_state ALTER COLUMN counted_through SET NOT NULL;

-- Until when a change feed wants announcements: running feeds move it forward (ChangeFeed), and writers
-- position at commit only before it, so that without a feed they pay nothing for announcements.
ALTER TABLE realtime.capture_state ADD COLUMN announce_until timestamptz;

-- Transactions whose at_commit changes were left unpositioned while a feed wanted announcements (the
-- lock was taken, or the commit is asynchronous): the next writer to position numbers them first, so
-- that a change never overtakes one committed before it, and a round forgets those it has numbered.
CREATE TABLE realtime.unpositioned_commits (xid xid8 PRIMARY KEY);

-- Gives positions at commit. Under the capture_state row lock it numbers first every committed change
-- still waiting for a position (those of poll mode, and of transactions that had to leave theirs:
-- realtime.unpositioned_commits), in xid order as a round does, then the transaction's own at_commit
-- changes, and it holds the lock until its commit is visible. Whoever takes the lock next (a writer
-- or a round) sees these positions, so positions stay dense, are never given behind a reader, and a
-- change never overtakes one whose commit was visible before this transaction began committing (so
-- each session keeps its order). When another transaction holds the lock it does not wait: it leaves its changes, marked, to
-- the next writer or round, so concurrent writers never queue on one another here. An asynchronous
-- commit always leaves them: it could be lost in a crash after a reader saw it, and its position
-- given again; the next synchronous commit flushes it to disk before its own positions show. Then it
-- sends on `realtime:changes` the positions and the changes in position order, each with its table's
-- access_version read at commit (READ COMMITTED only: other isolation levels read an older snapshot),
-- or only the positions when the changes do not fit in a notification. Without a feed that wants
-- announcements (capture_state.announce_until) it leaves everything to the rounds, unmarked. The
-- first firing of a transaction numbers all its rows so far; later firings return at once.
CREATE FUNCTION realtime.position_at_commit() RETURNS trigger
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
    -- Left to the next writer or round, marked; a feed is only told to read the log.
    IF current_setting('realtime.unpositioned_noted', true) IS DISTINCT FROM 'on' THEN
      INSERT INTO realtime.unpositioned_commits VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
      PERFORM pg_notify('realtime:changes', '{"first":null}');
      PERFORM set_config('realtime.unpositioned_noted', 'on', true);
    END IF;
    RETURN NULL;
  END IF;
  WITH waiting AS (
    DELETE FROM realtime.unpositioned_commits WHERE xid <> pg_current_xact_id() RETURNING xid
  ) SELECT array_agg(xid) INTO v_waiting FROM waiting;
  v_next := v_last;
  -- One change at a time, each found and numbered through an index (a set-based UPDATE … FROM gets a
  -- generic plan that scans the whole log).
  FOR v_change IN
    SELECT * FROM (
      SELECT c.id, c.xid, c.changed_at, c.operation, c.schema_name, c.table_name, c.subscription_id, c.new_record, c.old_record, c.writer_pid, 0 AS mine
        FROM realtime.changes AS c WHERE c.xid = ANY (v_waiting) AND c.position IS NULL AND c.at_commit
      UNION ALL
      SELECT c.id, c.xid, c.changed_at, c.operation, c.schema_name, c.table_name, c.subscription_id, c.new_record, c.old_record, c.writer_pid, 0
        FROM realtime.changes AS c WHERE c.position IS NULL AND NOT c.at_commit AND c.xid <> pg_current_xact_id()
      UNION ALL
      SELECT c.id, c.xid, c.changed_at, c.operation, c.schema_name, c.table_name, c.subscription_id, c.new_record, c.old_record, c.writer_pid, 1
        FROM realtime.changes AS c WHERE c.xid = pg_current_xact_id() AND c.position IS NULL AND c.at_commit
    ) AS pending ORDER BY pending.mine, pending.xid, pending.id
  LOOP
    v_next := v_next + 1;
    UPDATE realtime.changes SET position = v_next WHERE id = v_change.id;
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
  UPDATE realtime.capture_state SET last_position = v_next, sequenced_at = now() WHERE id;
  PERFORM set_config('realtime.positioned_through', v_through::text, true);
  PERFORM pg_notify('realtime:changes', '{"first":' || (v_last + 1) || ',"last":' || v_next
    || CASE WHEN v_changes IS NULL THEN '' ELSE ',"changes":[' || v_changes || ']' END || '}');
  RETURN NULL;
END
$$;

-- Brings realtime.subscriptions' counts up to p_through for the changes positioned at commit since counted_through.
-- Runs under the capture_state row lock (a sequencing round holds it).
CREATE FUNCTION realtime.count_positioned_changes(p_through bigint) RETURNS void
LANGUAGE sql AS $$
  WITH totals AS (
    SELECT c.subscription_id, count(*) AS n, max(c.changed_at) AS latest
      FROM realtime.changes AS c, realtime.capture_state AS cs
     WHERE c.position > cs.counted_through AND c.position <= p_through
     GROUP BY c.subscription_id
  ), counted AS (
    UPDATE realtime.subscriptions AS s
       SET changes_seen = s.changes_seen + totals.n, last_change_at = greatest(s.last_change_at, totals.latest)
      FROM totals WHERE s.id = totals.subscription_id
    RETURNING 1
  )
  UPDATE realtime.capture_state SET counted_through = p_through WHERE counted_through < p_through;
$$;

-- Each subscription's changes_seen and last_change_at, with the changes positioned at commit that the
-- counts do not hold yet.
CREATE FUNCTION realtime.subscription_counts() RETURNS TABLE (subscription_id uuid, changes_seen bigint, last_change_at timestamptz)
LANGUAGE sql STABLE AS $$
  SELECT s.id, s.changes_seen + coalesce(recent.n, 0), greatest(s.last_change_at, recent.latest)
    FROM realtime.subscriptions AS s
    LEFT JOIN (
      SELECT c.subscription_id, count(*) AS n, max(c.changed_at) AS latest
        FROM realtime.changes AS c, realtime.capture_state AS cs
       WHERE c.position > cs.counted_through
       GROUP BY c.subscription_id
    ) AS recent ON recent.subscription_id = s.id
$$;

-- The sequencer as in migration 0002, which now also brings the counts of changes positioned at
-- commit up to date and forgets the unpositioned commits it numbered; a round is idle (no lock, no
-- write) only when there is nothing to number or count.
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
  )
  SELECT (SELECT count(*) FROM numbered) INTO v_count;
  IF v_count > 0 THEN
    UPDATE realtime.capture_state SET last_position = v_last + v_count, counted_through = v_last + v_count, sequenced_at = now();
  END IF;
  DELETE FROM realtime.unpositioned_commits AS u
   WHERE NOT EXISTS (SELECT 1 FROM realtime.changes AS c WHERE c.xid = u.xid AND c.position IS NULL);
  RETURN v_last + v_count;
END
$$;

-- Retention as in migration 0002, after a sequencing round, so that no change leaves the log uncounted.
CREATE OR REPLACE FUNCTION realtime.cleanup_changes(p_retention_hours numeric DEFAULT 24) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_deleted integer;
BEGIN
  PERFORM realtime.sequence_changes();
  DELETE FROM realtime.changes
   WHERE position IS NOT NULL AND changed_at < now() - make_interval(secs => p_retention_hours * 3600);
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  RETURN v_deleted;
END
$$;

CREATE CONSTRAINT TRIGGER changes_position_at_commit AFTER INSERT ON realtime.changes
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.at_commit AND NEW.position IS NULL)
  EXECUTE FUNCTION realtime.position_at_commit();

-- Capture functions of notify-mode subscriptions made before this migration mark their rows too. A
-- function this role may not replace keeps its rows on the sequencer and its table's channel, as before.
DO $$
DECLARE
  v_function record;
  v_definition text;
BEGIN
  FOR v_function IN
    SELECT p.oid, s.id, s.function_name FROM realtime.subscriptions AS s
      JOIN pg_catalog.pg_proc AS p ON p.proname = s.function_name AND p.pronamespace = 'realtime'::regnamespace
     WHERE s.capture = 'notify'
  LOOP
    v_definition := pg_catalog.pg_get_functiondef(v_function.oid);
    CONTINUE WHEN position('TG_OP, v_new, v_old)' IN v_definition) = 0;
    v_definition := replace(replace(replace(v_definition,
      'operation, new_record, old_record)', 'operation, new_record, old_record, at_commit)'),
      'TG_OP, v_new, v_old)', 'TG_OP, v_new, v_old, current_setting(''synchronous_commit'') <> ''off'')'),
      'RETURNING id INTO v_id;', 'RETURNING id INTO v_id;
  IF current_setting(''synchronous_commit'') = ''off'' THEN PERFORM pg_notify(''realtime:changes'', ''{"first":null}''); END IF;');
    BEGIN
      EXECUTE v_definition;
      UPDATE realtime.subscriptions SET announced_at_commit = true WHERE id = v_function.id;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE 'capture function realtime.% left as it was (%); its changes stay on the sequencer', v_function.function_name, SQLERRM;
    END;
  END LOOP;
END
$$;
