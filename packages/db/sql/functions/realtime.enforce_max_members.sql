-- Keeps a channel's members within its `max_members` (in its metadata, as `channel create "support"
-- private '{"max_members": 10}'` sets it), whoever adds them: the CLI, the server, or SQL. Additions to
-- one channel take turns (an advisory lock held to the end of the transaction), so two at once cannot
-- both take the last place; a user who is a member already (a role change by INSERT … ON CONFLICT)
-- takes no new place. Lowering the limit removes no one; it refuses new members until there is room.
CREATE OR REPLACE FUNCTION realtime.enforce_max_members()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_limit jsonb;
  v_slug text;
  v_count bigint;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.channel_id = OLD.channel_id THEN
    RETURN NEW;
  END IF;
  SELECT c.metadata -> 'max_members', c.slug INTO v_limit, v_slug FROM realtime.channels c WHERE c.id = NEW.channel_id;
  IF v_limit IS NULL OR v_limit = 'null'::jsonb THEN
    RETURN NEW;
  END IF;
  IF jsonb_typeof(v_limit) <> 'number' OR v_limit::text !~ '^[0-9]+$' THEN
    RAISE EXCEPTION 'channel "%" has max_members %, which is not a whole number of members', v_slug, v_limit
      USING ERRCODE = 'check_violation', CONSTRAINT = 'channel_members_max_members',
            HINT = 'set max_members in the channel''s metadata to a whole number, or remove it';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended('realtime.channel_members ' || NEW.channel_id::text, 0));
  IF EXISTS (SELECT 1 FROM realtime.channel_members m WHERE m.channel_id = NEW.channel_id AND m.user_id = NEW.user_id) THEN
    RETURN NEW;
  END IF;
  SELECT count(*) INTO v_count FROM realtime.channel_members m WHERE m.channel_id = NEW.channel_id;
  IF v_count >= v_limit::text::bigint THEN
    RAISE EXCEPTION 'channel "%" is full: it has % members and its max_members is %', v_slug, v_count, v_limit
      USING ERRCODE = 'check_violation', CONSTRAINT = 'channel_members_max_members',
            HINT = 'remove a member (nself realtime channel leave) or raise max_members in the channel''s metadata';
  END IF;
  RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER channel_members_max_members
  BEFORE INSERT OR UPDATE OF channel_id ON realtime.channel_members
  FOR EACH ROW EXECUTE FUNCTION realtime.enforce_max_members();
