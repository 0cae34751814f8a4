-- A sequencing round: gives positions to the changes of committed transactions still waiting for one,
-- in xid order, and returns the newest position. Rounds and writers positioning at commit are
-- serialised by the capture_state row lock, held until commit, and each round's snapshot is taken after
-- that lock is granted: a round sees every earlier numbering and every transaction that committed
-- before it, so positions are dense and only ever appended. A round also brings the counts of changes
-- positioned at commit up to date and forgets the lists of unpositioned writers it has numbered; it is
-- idle (no lock, no write) when there is nothing to number or count.
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
