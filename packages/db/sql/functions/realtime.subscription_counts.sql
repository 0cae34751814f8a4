-- Each subscription's changes_seen and last_change_at, with the changes positioned at commit that the
-- counts do not hold yet.
CREATE OR REPLACE FUNCTION realtime.subscription_counts() RETURNS TABLE (subscription_id uuid, changes_seen bigint, last_change_at timestamptz)
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
