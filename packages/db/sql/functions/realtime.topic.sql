-- Supabase's realtime.topic(): the topic an authorisation probe asks about, for row-level security
-- policies on realtime.messages (`(select realtime.topic()) = 'room:1'`); NULL outside a probe.
CREATE OR REPLACE FUNCTION realtime.topic()
RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('realtime.topic', true), '')
$$;
