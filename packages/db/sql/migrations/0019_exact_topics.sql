-- Topics are matched exactly, as on Supabase: a channel that a client's join, a REST broadcast or
-- realtime.send creates has the topic itself as its slug (any printable text: spaces, capitals, a
-- leading dash), and `Room/ABC` and `room/abc` are two channels. Names the CLI is given still become
-- slugs of their own (`General Chat` → `general-chat`).
ALTER TABLE realtime.channels DROP CONSTRAINT IF EXISTS channels_slug_check;
ALTER TABLE realtime.channels ADD CONSTRAINT channels_slug_check CHECK (length(slug) BETWEEN 1 AND 200);
