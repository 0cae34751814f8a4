-- NOTIFY carries positions, never rows or messages; every way of storing a broadcast caps its payload.
--
-- Any database login may LISTEN on any channel, so a notification is readable by logins that may not
-- read the tables it speaks of (docs/capture.md, "What notifications carry"; docs/history.md). Now:
-- - `realtime:broadcast` carries a stored message's id, channel id and offset; readers read
--   realtime.messages with their own privileges (the server reads back what it was told of).
-- - `realtime:changes` carries the positions a transaction numbered, not its changes.
-- - `realtime:table:<schema>.<table>` carries the seed's row payload only for a table an operator
--   subscribed with the CLI (realtime.subscriptions.notify_rows); a table captured only because the
--   server needed it for a postgres_changes join gets the change's position in the log instead.
-- - realtime.append_message(s), and so realtime.broadcast, refuse a payload over
--   realtime.max_payload_bytes() (262144 bytes unless the setting realtime.max_payload_bytes says
--   otherwise) with SQLSTATE 22023, and record each payload's size for readers that page by bytes.

-- True when the table's NOTIFY sends the seed's payload with the changed rows (an operator's
-- `nself realtime subscribe`); false for subscriptions the server made, and for every subscription
-- made before this migration (their capture functions are rewritten below; subscribing again from the
-- CLI brings the rows back).
ALTER TABLE realtime.subscriptions ADD COLUMN IF NOT EXISTS notify_rows boolean NOT NULL DEFAULT false;

-- The size of a message's payload in bytes (the JSON text as PostgreSQL prints it, or the bytes of a
-- binary payload), so that a reader can stop a page at a number of bytes without reading the payloads.
-- Null for messages stored before this migration; readers then measure the payload itself.
ALTER TABLE realtime.messages ADD COLUMN IF NOT EXISTS payload_bytes integer;

-- The largest payload a broadcast may store: the setting realtime.max_payload_bytes when set (by an
-- operator: ALTER DATABASE … SET realtime.max_payload_bytes = '1048576'), else 262144 bytes, the
-- server's default REALTIME_MAX_PAYLOAD_BYTES.
CREATE OR REPLACE FUNCTION realtime.max_payload_bytes() RETURNS integer
LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('realtime.max_payload_bytes', true), '')::integer, 262144)
$$;

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
REVOKE ALL ON FUNCTION realtime.max_payload_bytes() FROM PUBLIC;
REVOKE ALL ON FUNCTION realtime.checked_payload_bytes(jsonb, bytea) FROM PUBLIC;

-- The `realtime:broadcast` notification of a stored message: where it is, never what it says.
CREATE OR REPLACE FUNCTION realtime.message_note(p_message realtime.messages, p_slug text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', p_message.id, 'channel_id', p_message.channel_id, 'offset', p_message.channel_offset)::text
$$;

CREATE OR REPLACE FUNCTION realtime.append_message(
  p_channel_id uuid, p_event text, p_payload jsonb, p_sender text DEFAULT NULL, p_payload_binary bytea DEFAULT NULL
) RETURNS realtime.messages
LANGUAGE plpgsql AS $$
DECLARE
  v_bytes integer := realtime.checked_payload_bytes(p_payload, p_payload_binary);
  v_offset bigint;
  v_slug text;
  v_message realtime.messages;
BEGIN
  UPDATE realtime.channels SET last_offset = last_offset + 1
   WHERE id = p_channel_id
   RETURNING last_offset, slug INTO v_offset, v_slug;
  IF v_offset IS NULL THEN
    RAISE EXCEPTION 'channel % does not exist', p_channel_id USING ERRCODE = 'no_data_found';
  END IF;
  INSERT INTO realtime.messages (channel_id, channel_offset, event_type, payload, payload_binary, sender_id, payload_bytes)
  VALUES (p_channel_id, v_offset, p_event, p_payload, p_payload_binary, p_sender, v_bytes)
  RETURNING * INTO v_message;
  PERFORM pg_notify('realtime:broadcast', realtime.message_note(v_message, v_slug));
  RETURN v_message;
END
$$;

-- Appends the messages (p_ids[i], p_events[i], p_payloads[i], p_senders[i], p_payloads_binary[i]) to a
-- channel in array order with consecutive offsets, as realtime.append_message would one after another
-- in one transaction (the channel row is locked once), and returns them in offset order. The ids are
-- the caller's, so it can recognise its own messages in notifications that arrive before the reply.
-- A payload over the limit fails the whole call before anything is stored.
CREATE OR REPLACE FUNCTION realtime.append_messages(
  p_channel_id uuid, p_ids uuid[], p_events text[], p_payloads jsonb[], p_senders text[], p_payloads_binary bytea[]
) RETURNS SETOF realtime.messages
LANGUAGE plpgsql AS $$
DECLARE
  v_count integer := cardinality(p_ids);
  v_bytes integer[];
  v_first bigint;
  v_slug text;
  v_message realtime.messages;
BEGIN
  IF v_count = 0 THEN RETURN; END IF;
  v_bytes := ARRAY(
    SELECT realtime.checked_payload_bytes(m.payload, m.payload_binary)
      FROM unnest(p_payloads, p_payloads_binary) WITH ORDINALITY AS m(payload, payload_binary, n)
     ORDER BY m.n);
  UPDATE realtime.channels SET last_offset = last_offset + v_count
   WHERE id = p_channel_id
   RETURNING last_offset - v_count, slug INTO v_first, v_slug;
  IF v_first IS NULL THEN
    RAISE EXCEPTION 'channel % does not exist', p_channel_id USING ERRCODE = 'no_data_found';
  END IF;
  FOR v_message IN
    INSERT INTO realtime.messages (id, channel_id, channel_offset, event_type, payload, payload_binary, sender_id, payload_bytes)
    SELECT m.id, p_channel_id, v_first + m.n, m.event, m.payload, m.payload_binary, m.sender, v_bytes[m.n]
      FROM unnest(p_ids, p_events, p_payloads, p_senders, p_payloads_binary) WITH ORDINALITY AS m(id, event, payload, sender, payload_binary, n)
     ORDER BY m.n
    RETURNING *
  LOOP
    PERFORM pg_notify('realtime:broadcast', realtime.message_note(v_message, v_slug));
    RETURN NEXT v_message;
  END LOOP;
END
$$;

-- As in migration 0009, except that the `realtime:changes` notification carries only the positions
-- numbered: a feed reads the changes from the log, with its own privileges.
CREATE OR REPLACE FUNCTION realtime.position_at_commit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_last bigint;
  v_next bigint;
  v_waiting xid8[];
  v_change record;
  v_through bigint := NEW.id;
  v_read_committed boolean := current_setting('transaction_isolation') = 'read committed';
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
       SELECT c.ctid, c.id, c.xid, 0 AS mine
         FROM realtime.changes AS c WHERE c.xid = ANY (v_waiting) AND c.position IS NULL AND c.at_commit
       UNION ALL
       SELECT c.ctid, c.id, c.xid, 0
         FROM realtime.changes AS c WHERE c.position IS NULL AND NOT c.at_commit AND c.xid <> pg_current_xact_id()
       UNION ALL
       SELECT c.ctid, c.id, c.xid, 1
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
  END LOOP;
  CLOSE v_pending;
  IF v_next = v_last THEN
    RETURN NULL;
  END IF;
  UPDATE realtime.capture_state SET last_position = v_next, sequenced_at = now(), numbered_waiting = v_waiting WHERE id;
  PERFORM set_config('realtime.positioned_through', v_through::text, true);
  PERFORM pg_notify('realtime:changes', '{"first":' || (v_last + 1) || ',"last":' || v_next || '}');
  RETURN NULL;
END
$$;
-- Capture functions installed before this migration send the changed rows on the table's channel:
-- each now sends the change's position in the log instead (`nself realtime subscribe` of the table
-- brings the seed's payload back, for tables an operator wants to LISTEN to in psql).
DO $$
DECLARE
  v_function record;
  v_definition text;
BEGIN
  FOR v_function IN
    SELECT p.oid, s.function_name FROM realtime.subscriptions AS s
      JOIN pg_catalog.pg_proc AS p ON p.proname = s.function_name AND p.pronamespace = 'realtime'::regnamespace
     WHERE s.capture = 'notify' AND NOT s.notify_rows
  LOOP
    v_definition := pg_catalog.pg_get_functiondef(v_function.oid);
    CONTINUE WHEN position(', v_payload);' IN v_definition) = 0;
    v_definition := replace(v_definition, ', v_payload);', ', v_head || '',"change_id":'' || v_id || ''}'');');
    BEGIN
      EXECUTE v_definition;
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'capture function realtime.% left as it was (%): it still sends changed rows; run `nself realtime unsubscribe` and subscribe the table again', v_function.function_name, SQLERRM;
    END;
  END LOOP;
END
$$;
