-- Ends sessions of the given connections (in one channel, or in all when p_channel_id is NULL).
-- A user left with no session in a channel goes offline there. The presence rows are locked first,
-- so two connections of one user closing at the same time cannot both leave the user online.
CREATE OR REPLACE FUNCTION realtime.end_presence_sessions(p_connection_ids text[], p_channel_id uuid DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_offline integer;
BEGIN
  PERFORM 1 FROM realtime.presence p
    JOIN realtime.presence_sessions s ON s.user_id = p.user_id AND s.channel_id = p.channel_id
   WHERE s.connection_id = ANY (p_connection_ids) AND (p_channel_id IS NULL OR s.channel_id = p_channel_id)
   ORDER BY p.id FOR UPDATE OF p;
  WITH ended AS (
    DELETE FROM realtime.presence_sessions s
     WHERE s.connection_id = ANY (p_connection_ids) AND (p_channel_id IS NULL OR s.channel_id = p_channel_id)
    RETURNING s.user_id, s.channel_id
  ), orphaned AS (
    SELECT DISTINCT e.user_id, e.channel_id FROM ended e
     WHERE NOT EXISTS (
       SELECT 1 FROM realtime.presence_sessions o
        WHERE o.user_id = e.user_id AND o.channel_id = e.channel_id
          AND NOT (o.connection_id = ANY (p_connection_ids) AND (p_channel_id IS NULL OR o.channel_id = p_channel_id)))
  ), marked AS (
    UPDATE realtime.presence p SET status = 'offline', last_seen_at = now()
      FROM orphaned o
     WHERE p.user_id = o.user_id AND p.channel_id = o.channel_id AND p.status <> 'offline'
    RETURNING 1
  ) SELECT count(*)::integer INTO v_offline FROM marked;
  RETURN v_offline;
END
$$;
