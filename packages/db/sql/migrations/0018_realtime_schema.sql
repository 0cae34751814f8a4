-- The realtime schema's tables and indexes: channels and their members, the broadcast log, presence,
-- connections, and the change log of table capture with its state. Functions and triggers are in
-- ../functions, one file each, applied after the migrations (README.md in the folder above).
--
-- Version 18 because it creates at once what the project's first eighteen migrations built step by
-- step: a database they brought to version 18 already holds this schema and skips it.

-- Channels: a slug that addresses them, a type that decides who may join, and the offset of the
-- newest message, bumped under the row lock so that offsets of one channel commit in order.
CREATE TABLE realtime.channels (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug            text NOT NULL UNIQUE CHECK (length(slug) BETWEEN 1 AND 200 AND slug !~ '[[:space:]]' AND left(slug, 1) <> '-'),
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  type            text NOT NULL DEFAULT 'public' CHECK (type IN ('public', 'private', 'presence')),
  metadata        jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
  last_offset     bigint NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  -- A public channel that a client's join created (a name nobody set up): an operator creating a
  -- channel of that name takes it over instead of failing, so a name cannot be squatted by joining it.
  created_by_join boolean NOT NULL DEFAULT false,
  -- Names and slugs are printed by operators' terminals, where control characters (C0, DEL, C1) and
  -- bidirectional overrides or isolates move the cursor, clear the screen or reorder text. The server
  -- and the CLI refuse them with a clear error first; this covers channels created by SQL.
  CONSTRAINT channels_printable_names
    CHECK (name !~ '[\u0001-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]'
       AND slug !~ '[\u0001-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]')
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

-- The broadcast log: each channel's messages by offset.
CREATE TABLE realtime.messages (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  channel_id     uuid NOT NULL REFERENCES realtime.channels (id) ON DELETE CASCADE,
  channel_offset bigint NOT NULL,
  event_type     text NOT NULL,
  payload        jsonb,
  payload_binary bytea,
  sender_id      text,
  sent_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- The payload's size in bytes (the JSON text as PostgreSQL prints it, or the binary payload's bytes),
  -- so that a reader can stop a page at a number of bytes without reading the payloads; readers measure
  -- the payload itself where it is null.
  payload_bytes  integer,
  CHECK (payload IS NOT NULL OR payload_binary IS NOT NULL),
  UNIQUE (channel_id, channel_offset),
  -- Bytes of UTF-8, not characters: the V2 binary broadcast frame gives the event a one-byte length.
  -- Every writer passes here (the server, the CLI, SQL realtime.broadcast).
  CONSTRAINT messages_event_type_at_most_255_bytes CHECK (octet_length(event_type) BETWEEN 1 AND 255)
);
CREATE INDEX messages_channel_sent_at_idx ON realtime.messages (channel_id, sent_at);
CREATE INDEX messages_sent_at_idx ON realtime.messages (sent_at);
CREATE INDEX messages_channel_event_idx ON realtime.messages (channel_id, event_type, sent_at);

-- Presence as stored per user (what the CLI reads): one row per user and channel; a NULL channel is
-- the user's global presence, also one row.
CREATE TABLE realtime.presence (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
  channel_id   uuid REFERENCES realtime.channels (id) ON DELETE CASCADE,
  status       text NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'away', 'offline')),
  metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT presence_user_channel_key UNIQUE NULLS NOT DISTINCT (user_id, channel_id)
);
CREATE INDEX presence_channel_status_idx ON realtime.presence (channel_id, status);
CREATE INDEX presence_last_seen_idx ON realtime.presence (last_seen_at) WHERE status <> 'offline';

-- Presence as clients see it: each WebSocket track is a session of one connection in one channel,
-- with the presence key it joined with and the metadata it tracked; viewers see one meta per session
-- under its key. The session's user is the token's (none without a user in the token), so a user with
-- two connections who closes one stays present, and presence of a dead server process is swept.
CREATE TABLE realtime.presence_sessions (
  connection_id text NOT NULL CHECK (length(connection_id) BETWEEN 1 AND 255),
  channel_id    uuid NOT NULL REFERENCES realtime.channels (id) ON DELETE CASCADE,
  user_id       text CHECK (length(user_id) BETWEEN 1 AND 255),
  server_id     text,
  tracked_at    timestamptz NOT NULL DEFAULT now(),
  presence_key  text,
  metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (connection_id, channel_id),
  CONSTRAINT presence_sessions_key_check
    CHECK (length(presence_key) BETWEEN 1 AND 255 AND (presence_key IS NOT NULL OR user_id IS NOT NULL))
);
CREATE INDEX presence_sessions_user_channel_idx ON realtime.presence_sessions (user_id, channel_id);
CREATE INDEX presence_sessions_channel_idx ON realtime.presence_sessions (channel_id);

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

-- Captured tables, and what `subscribe` (or the server, for a join) installed for each, so that
-- `unsubscribe` and `subscriptions` need no guessing.
CREATE TABLE realtime.subscriptions (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  table_name          text NOT NULL UNIQUE,
  events              text[] NOT NULL DEFAULT ARRAY['INSERT', 'UPDATE', 'DELETE'],
  filter              text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  schema_name         text,
  relation_name       text,
  function_name       text,
  notify_channel      text,
  -- notify: the capture trigger also sends NOTIFY (psql LISTEN works); poll: the log only, consumers
  -- poll it; wal: the server captures the table from the write-ahead log for a join, with no trigger.
  capture             text NOT NULL DEFAULT 'notify' CHECK (capture IN ('notify', 'poll', 'wal')),
  changes_seen        bigint NOT NULL DEFAULT 0,
  last_change_at      timestamptz,
  -- The capture function marks its rows at_commit, so every transaction writing them sends a
  -- `realtime:changes` notification and a feed needs no LISTEN on the table's channel.
  announced_at_commit boolean NOT NULL DEFAULT false,
  -- The table's NOTIFY sends the seed's payload with the changed rows (an operator's `nself realtime
  -- subscribe`); subscriptions the server made send the change's position in the log instead.
  notify_rows         boolean NOT NULL DEFAULT false,
  CONSTRAINT subscriptions_events_check
    CHECK (events <@ ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] AND cardinality(events) > 0)
);
CREATE UNIQUE INDEX subscriptions_relation_key ON realtime.subscriptions (schema_name, relation_name);

-- Every captured change, in one order: `position`. Changes from the write-ahead log are written with
-- their positions in commit order by the one server process that reads the slot. Capture triggers
-- insert rows with position NULL, numbered later in commit order, either at their own commit
-- (at_commit rows, realtime.position_at_commit) or by a sequencing round (realtime.sequence_changes).
-- docs/capture.md describes both paths.
CREATE TABLE realtime.changes (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  position        bigint,
  xid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
  -- NULL for changes of a schema watched as a whole.
  subscription_id uuid,
  schema_name     text NOT NULL,
  table_name      text NOT NULL,
  operation       text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')),
  new_record      jsonb,
  old_record      jsonb,
  writer_pid      integer NOT NULL DEFAULT pg_backend_pid(),
  changed_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- Positioned by its own transaction at commit (READ COMMITTED, synchronous commit, while a feed wants
  -- announcements); the others wait for the next writer that positions or the next round.
  at_commit       boolean NOT NULL DEFAULT false
);
CREATE INDEX changes_pending_idx ON realtime.changes (xid, id) WHERE position IS NULL;
CREATE UNIQUE INDEX changes_position_key ON realtime.changes (position) WHERE position IS NOT NULL;
CREATE INDEX changes_changed_at_idx ON realtime.changes (changed_at) WHERE position IS NOT NULL;
-- The committed changes a writer positioning at commit must number before its own, found without
-- walking the at_commit rows.
CREATE INDEX changes_unannounced_idx ON realtime.changes (xid, id) WHERE position IS NULL AND NOT at_commit;

-- The state of capture, one row: the numbering of the change log, the requests for announcements,
-- and the WAL consumer's place in the slot.
CREATE TABLE realtime.capture_state (
  id                   boolean PRIMARY KEY DEFAULT true CHECK (id),
  -- The newest position handed out; its row lock orders every numbering.
  last_position        bigint NOT NULL DEFAULT 0,
  sequenced_at         timestamptz,
  -- Changes positioned at commit are counted in realtime.subscriptions later, by a round, so that
  -- writers of one table do not queue on its subscription row: every change up to here is counted.
  counted_through      bigint NOT NULL,
  -- Until when a change feed wants announcements (realtime.request_announcements): writers position
  -- at commit only before it, so that without a feed they pay nothing for announcements.
  announce_until       timestamptz,
  -- The listed transactions (realtime.unpositioned_writers) whose changes the last writer to position
  -- numbered: a backend drops those from its list when it next extends it.
  numbered_waiting     xid8[] NOT NULL DEFAULT '{}',
  -- The WAL path is set up (publication and slot exist): capture functions then write no log row.
  -- Set by the setup after the slot exists, cleared when the slot is dropped.
  wal_capture          boolean NOT NULL DEFAULT false,
  -- The last change written from the WAL: its transaction's commit LSN and its place (1, 2, …) in
  -- that transaction, so that a consumer taking over skips exactly what was written before.
  wal_commit_lsn       pg_lsn,
  wal_change_index     integer NOT NULL DEFAULT 0,
  -- The newest position when changes could not be read from the WAL (a slot lost or dropped and made
  -- again): a resume from before it is answered as unavailable.
  wal_gap_after        bigint,
  wal_gap_reason       text,
  -- When the leading WAL consumer last read the slot (PostgreSQL does not store it): the lag in
  -- seconds that `status`, `stats` and /metrics show, and the stale-slot warning.
  wal_consumer_seen_at timestamptz
);
INSERT INTO realtime.capture_state (counted_through) VALUES (0);

-- The transactions of a backend (pid) that left their at_commit changes unpositioned while a feed
-- wanted announcements (the position lock was taken, or the commit is asynchronous); the next writer
-- to position numbers their changes first. Only the backend itself updates its row, so no writer
-- waits on another here and updates stay on their page.
CREATE TABLE realtime.unpositioned_writers (
  pid  integer PRIMARY KEY,
  xids xid8[] NOT NULL
) WITH (fillfactor = 50);

-- Schemas captured as a whole from the WAL (a `table: '*'` join): tables created later are captured too.
CREATE TABLE realtime.schema_watches (
  schema_name text PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT now()
);
