-- Asks writers to position and announce their changes at commit for the next p_seconds, renewing a
-- request only once less than three quarters of it remain. Every write of the request takes the
-- advisory lock exclusively, waiting at most p_wait_ms for the writers looking at that moment (it fails
-- with lock_not_available after that, and the caller asks again later). After a lapse it first numbers
-- what writers left meanwhile: the backlog before taking the lock, so that writers do not wait for it,
-- and what committed since under the lock, so that no change left by a writer that found no request
-- is numbered after a change positioned at commit.
CREATE OR REPLACE FUNCTION realtime.request_announcements(p_seconds integer DEFAULT 60, p_wait_ms integer DEFAULT 100) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_lapsed boolean;
  v_renewed boolean;
  v_lock_timeout text := current_setting('lock_timeout');
BEGIN
  SELECT announce_until IS NULL OR announce_until <= clock_timestamp(),
         coalesce(announce_until > clock_timestamp() + make_interval(secs => p_seconds * 0.75), false)
    INTO v_lapsed, v_renewed FROM realtime.capture_state WHERE id;
  IF v_renewed THEN
    RETURN;
  END IF;
  IF v_lapsed THEN
    PERFORM realtime.drain_changes();
  END IF;
  PERFORM set_config('lock_timeout', p_wait_ms || 'ms', true);
  PERFORM pg_advisory_xact_lock(hashtext('realtime.announcements'));
  PERFORM set_config('lock_timeout', v_lock_timeout, true);
  IF NOT coalesce((SELECT announce_until > clock_timestamp() FROM realtime.capture_state WHERE id), false) THEN
    PERFORM realtime.drain_changes();
  END IF;
  UPDATE realtime.capture_state SET announce_until = clock_timestamp() + make_interval(secs => p_seconds) WHERE id;
END
$$;
