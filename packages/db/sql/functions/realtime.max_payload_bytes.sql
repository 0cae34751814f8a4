-- The largest payload a broadcast may store: the setting realtime.max_payload_bytes when set (by an
-- operator: ALTER DATABASE … SET realtime.max_payload_bytes = '1048576'), else 262144 bytes, the
-- server's default REALTIME_MAX_PAYLOAD_BYTES.
CREATE OR REPLACE FUNCTION realtime.max_payload_bytes() RETURNS integer
LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('realtime.max_payload_bytes', true), '')::integer, 262144)
$$;
