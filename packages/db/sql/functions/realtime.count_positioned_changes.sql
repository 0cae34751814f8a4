-- Brings realtime.subscriptions' counts up to p_through for the changes positioned at commit since counted_through.
-- Runs under the capture_state row lock (a sequencing round holds it).
CREATE OR REPLACE FUNCTION realtime.count_positioned_changes(p_through bigint) RETURNS void
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
