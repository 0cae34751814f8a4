-- The realtime schema: channels, members, the broadcast log, presence, table subscriptions, connections.

CREATE TABLE realtime.channels (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug        text NOT NULL UNIQUE CHECK (length(slug) BETWEEN 1 AND 200 AND slug !~ '[[:space:]]' AND left(slug, 1) <> '-'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  type        text NOT NULL DEFAULT 'public' CHECK (type IN ('public', 'private', 'presence')),
  metadata    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
  -- The offset of the newest message; bumped under the row lock so offsets commit in order.
  last_offset bigint NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX channels_type_idx ON realtime.channels (type);

CREATE TABLE realtime.channel_members (
  channel_id uuid NOT NULL REFERENCES realtime.channels (id) ON DELETE CASCADE,
  user_id    text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
  role       text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'moderator', 'admin')),
  joined_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX channel_members_user_idx ON realtime.channel_members (user_id);

CREATE TABLE realtime.messages (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  channel_id     uuid NOT NULL REFERENCES realtime.channels (id) ON DELETE CASCADE,
  channel_offset bigint NOT NULL,
  event_type     text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 255),
  payload        jsonb,
  payload_binary bytea,
  sender_id      text,
  sent_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK (payload IS NOT NULL OR payload_binary IS NOT NULL),
  UNIQUE (channel_id, channel_offset)
);
CREATE INDEX messages_channel_sent_at_idx ON realtime.messages (channel_id, sent_at);
CREATE INDEX messages_sent_at_idx ON realtime.messages (sent_at);
CREATE INDEX messages_channel_event_idx ON realtime.messages (channel_id, event_type, sent_at);

CREATE TABLE realtime.presence (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
  channel_id   uuid REFERENCES realtime.channels (id) ON DELETE CASCADE,
  status       text NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'away', 'offline')),
  metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- One row per user and channel; a NULL channel is the user's global presence, also one row.
  CONSTRAINT presence_user_channel_key UNIQUE NULLS NOT DISTINCT (user_id, channel_id)
);
CREATE INDEX presence_channel_status_idx ON realtime.presence (channel_id, status);
CREATE INDEX presence_last_seen_idx ON realtime.presence (last_seen_at) WHERE status <> 'offline';

CREATE TABLE realtime.subscriptions (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  table_name text NOT NULL UNIQUE,
  events     text[] NOT NULL DEFAULT ARRAY['INSERT', 'UPDATE', 'DELETE'],
  filter     text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE realtime.connections (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  connection_id   text NOT NULL UNIQUE,
  user_id         text,
  server_id       text,
  status          text NOT NULL DEFAULT 'connected' CHECK (status IN ('connected', 'disconnected')),
  remote_address  text,
  user_agent      text,
  metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
  connected_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at    timestamptz NOT NULL DEFAULT now(),
  disconnected_at timestamptz
);
CREATE INDEX connections_status_seen_idx ON realtime.connections (status, last_seen_at);
CREATE INDEX connections_user_idx ON realtime.connections (user_id);

-- Appends a message to a channel's log with the next offset, then wakes listeners.
-- The channel row lock is held until commit, so offsets of one channel commit in order.
CREATE FUNCTION realtime.append_message(
  p_channel_id uuid, p_event text, p_payload jsonb, p_sender text DEFAULT NULL, p_payload_binary bytea DEFAULT NULL
) RETURNS realtime.messages
LANGUAGE plpgsql AS $$
DECLARE
  v_offset bigint;
  v_slug text;
  v_message realtime.messages;
  v_note jsonb;
BEGIN
  UPDATE realtime.channels SET last_offset = last_offset + 1
   WHERE id = p_channel_id
   RETURNING last_offset, slug INTO v_offset, v_slug;
  IF v_offset IS NULL THEN
    RAISE EXCEPTION 'channel % does not exist', p_channel_id USING ERRCODE = 'no_data_found';
  END IF;
  INSERT INTO realtime.messages (channel_id, channel_offset, event_type, payload, payload_binary, sender_id)
  VALUES (p_channel_id, v_offset, p_event, p_payload, p_payload_binary, p_sender)
  RETURNING * INTO v_message;
  v_note := jsonb_build_object(
    'id', v_message.id, 'channel_id', p_channel_id, 'channel', v_slug, 'offset', v_offset,
    'event', p_event, 'sender', p_sender, 'sent_at', v_message.sent_at);
  -- Small payloads ride along; larger ones are read from the table by offset.
  IF p_payload IS NOT NULL AND octet_length(p_payload::text) + octet_length(v_note::text) < 7000 THEN
    v_note := v_note || jsonb_build_object('payload', p_payload);
  END IF;
  PERFORM pg_notify('realtime:broadcast', v_note::text);
  RETURN v_message;
END
$$;

-- Broadcasts from SQL (an app's own functions and triggers): channel by slug or id.
CREATE FUNCTION realtime.broadcast(p_channel text, p_event text, p_payload jsonb, p_sender text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_channel_id uuid;
BEGIN
  SELECT id INTO v_channel_id FROM realtime.channels WHERE slug = lower(p_channel) OR id::text = p_channel;
  IF v_channel_id IS NULL THEN
    RAISE EXCEPTION 'channel "%" does not exist', p_channel USING ERRCODE = 'no_data_found';
  END IF;
  RETURN (realtime.append_message(v_channel_id, p_event, p_payload, p_sender)).channel_offset;
END
$$;

-- Cleanup helpers.
CREATE FUNCTION realtime.cleanup_messages(p_retention_hours numeric DEFAULT 24) RETURNS integer
LANGUAGE sql AS $$
  WITH deleted AS (
    DELETE FROM realtime.messages WHERE sent_at < now() - make_interval(secs => p_retention_hours * 3600) RETURNING 1
  ) SELECT count(*)::integer FROM deleted
$$;

CREATE FUNCTION realtime.cleanup_stale_presence(p_timeout_seconds numeric DEFAULT 300) RETURNS integer
LANGUAGE sql AS $$
  WITH updated AS (
    UPDATE realtime.presence SET status = 'offline'
     WHERE status <> 'offline' AND last_seen_at < now() - make_interval(secs => p_timeout_seconds)
    RETURNING 1
  ) SELECT count(*)::integer FROM updated
$$;

CREATE FUNCTION realtime.cleanup_stale_connections(p_timeout_seconds numeric DEFAULT 300) RETURNS integer
LANGUAGE sql AS $$
  WITH marked AS (
    UPDATE realtime.connections SET status = 'disconnected', disconnected_at = now()
     WHERE status = 'connected' AND last_seen_at < now() - make_interval(secs => p_timeout_seconds)
    RETURNING 1
  ), removed AS (
    DELETE FROM realtime.connections
     WHERE status = 'disconnected' AND disconnected_at < now() - interval '24 hours'
    RETURNING 1
  ) SELECT ((SELECT count(*) FROM marked) + (SELECT count(*) FROM removed))::integer
$$;

-- Presence changes from any source (CLI, SQL, any server process) wake the servers.
CREATE FUNCTION realtime.notify_presence_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_row realtime.presence;
  v_slug text;
BEGIN
  v_row := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  IF TG_OP = 'UPDATE' AND NEW.status = OLD.status AND NEW.metadata = OLD.metadata THEN
    RETURN NULL; -- a last-seen refresh is not news
  END IF;
  SELECT slug INTO v_slug FROM realtime.channels WHERE id = v_row.channel_id;
  PERFORM pg_notify('realtime:presence', jsonb_build_object(
    'operation', TG_OP, 'user_id', v_row.user_id, 'channel_id', v_row.channel_id, 'channel', v_slug,
    'status', CASE WHEN TG_OP = 'DELETE' THEN 'offline' ELSE v_row.status END,
    'metadata', CASE WHEN octet_length(v_row.metadata::text) < 6000 THEN v_row.metadata ELSE '{}'::jsonb END
  )::text);
  RETURN NULL;
END
$$;
CREATE TRIGGER presence_notify AFTER INSERT OR UPDATE OR DELETE ON realtime.presence
  FOR EACH ROW EXECUTE FUNCTION realtime.notify_presence_change();
