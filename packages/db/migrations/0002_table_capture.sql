-- Table change capture: the durable, ordered change log, its sequencer, and subscription bookkeeping.

-- What `subscribe` installed for a table, so that `unsubscribe` and `subscriptions` need no guessing.
ALTER TABLE realtime.subscriptions
  ADD COLUMN schema_name    text,
  ADD COLUMN relation_name  text,
  ADD COLUMN function_name  text,
  ADD COLUMN notify_channel text,
  -- notify: each change also sends NOTIFY (psql LISTEN works); poll: the log only, consumers poll it.
  ADD COLUMN capture        text NOT NULL DEFAULT 'notify' CHECK (capture IN ('notify', 'poll')),
  ADD COLUMN changes_seen   bigint NOT NULL DEFAULT 0,
  ADD COLUMN last_change_at timestamptz,
  ADD CONSTRAINT subscriptions_events_check
    CHECK (events <@ ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] AND cardinality(events) > 0);
CREATE UNIQUE INDEX subscriptions_relation_key ON realtime.subscriptions (schema_name, relation_name);

-- Every captured change. Writers insert rows with position NULL; realtime.sequence_changes() gives
-- committed rows their position later, so that positions follow commit order (docs/capture.md).
CREATE TABLE realtime.changes (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  position        bigint,
  xid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
  subscription_id uuid NOT NULL,
  schema_name     text NOT NULL,
  table_name      text NOT NULL,
  operation       text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')),
  new_record      jsonb,
  old_record      jsonb,
  writer_pid      integer NOT NULL DEFAULT pg_backend_pid(),
  changed_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX changes_pending_idx ON realtime.changes (xid, id) WHERE position IS NULL;
CREATE UNIQUE INDEX changes_position_key ON realtime.changes (position) WHERE position IS NOT NULL;
CREATE INDEX changes_changed_at_idx ON realtime.changes (changed_at) WHERE position IS NOT NULL;

-- The sequencer's counter: the newest position handed out. One row.
CREATE TABLE realtime.capture_state (
  id            boolean PRIMARY KEY DEFAULT true CHECK (id),
  last_position bigint NOT NULL DEFAULT 0,
  sequenced_at  timestamptz
);
INSERT INTO realtime.capture_state DEFAULT VALUES;

-- Gives positions to the changes of committed transactions and returns the newest position.
-- Rounds are serialised by the capture_state row lock, held until commit, and each round's
-- snapshot is taken after that lock is granted: a round sees every earlier round and every
-- transaction that committed before it, so positions are dense and only ever appended.
CREATE FUNCTION realtime.sequence_changes(p_limit integer DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_last bigint;
  v_count bigint;
BEGIN
  -- Idle: nothing to sequence, so no lock and no write.
  IF NOT EXISTS (SELECT 1 FROM realtime.changes WHERE position IS NULL) THEN
    RETURN (SELECT last_position FROM realtime.capture_state);
  END IF;
  SELECT last_position INTO v_last FROM realtime.capture_state FOR UPDATE;
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
    UPDATE realtime.capture_state SET last_position = v_last + v_count, sequenced_at = now();
  END IF;
  RETURN v_last + v_count;
END
$$;

-- Deletes sequenced changes older than the retention period; returns how many.
CREATE FUNCTION realtime.cleanup_changes(p_retention_hours numeric DEFAULT 24) RETURNS integer
LANGUAGE sql AS $$
  WITH deleted AS (
    DELETE FROM realtime.changes
     WHERE position IS NOT NULL AND changed_at < now() - make_interval(secs => p_retention_hours * 3600)
    RETURNING 1
  ) SELECT count(*)::integer FROM deleted
$$;
