-- The replication slot's health: PostgreSQL does not store when a slot was last read, so the WAL
-- consumer records it here while it leads (about every 10 s, and when the slot is made), for the
-- lag in seconds that `status`, `stats` and /metrics show and for the stale-slot warning
-- (docs/capture.md, "The replication slot").
ALTER TABLE realtime.capture_state ADD COLUMN wal_consumer_seen_at timestamptz;
