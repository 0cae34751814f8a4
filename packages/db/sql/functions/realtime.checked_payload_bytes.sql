-- The size of a payload in bytes; raises invalid_parameter_value (22023) naming the size and the limit
-- when it is over realtime.max_payload_bytes().
CREATE OR REPLACE FUNCTION realtime.checked_payload_bytes(p_payload jsonb, p_payload_binary bytea) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_bytes integer := coalesce(octet_length(p_payload::text), 0) + coalesce(octet_length(p_payload_binary), 0);
  v_limit integer := realtime.max_payload_bytes();
BEGIN
  IF v_bytes > v_limit THEN
    RAISE EXCEPTION 'payload of % bytes is over the limit of % bytes', v_bytes, v_limit
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'send a smaller payload, or raise the setting realtime.max_payload_bytes (and REALTIME_MAX_PAYLOAD_BYTES)';
  END IF;
  RETURN v_bytes;
END
$$;
