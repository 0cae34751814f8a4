// Catching a reader up from a log, then handing it to the live stream: no gap and no duplicate at the seam.

/**
 * A reader behind the live stream of a log (a join resuming a channel's broadcasts, a table change
 * subscription starting in the past). The live stream keeps going while the reader catches up; the
 * reader reads pages of the log until it has reached what the live stream has reached, then goes live
 * in the same turn of the event loop, dropping live entries at or below its cursor from then on.
 */
export interface LogTail {
  /** Every entry through this position has been delivered to the reader. */
  readonly cursor: number;
  /** The newest position the live stream has reached: the catch-up reads the log at least this far. */
  liveThrough(): number;
  /**
   * Reads the next page of the log after `cursor` (up to `target` or beyond) and delivers it, moving
   * `cursor`. `ended`: the log held nothing more, so the reader goes live where it is; `stopped`: the
   * reader went away (closed, or its client), and the tail ends without going live.
   */
  readPage(target: number): Promise<'read' | 'ended' | 'stopped'>;
  /** The catch-up is over: from now on the live stream delivers to the reader what lies after its `cursor`. */
  goLive(): void;
}

/**
 * Catches `tail` up from the log, then makes it live. Whether it has caught up is judged against the
 * live stream's position at that moment, and `goLive` runs in the same turn as that judgement, so no
 * entry the live stream hands out falls between the last read and going live. Resolves once live or stopped.
 */
export async function catchUpThenGoLive(tail: LogTail): Promise<'live' | 'stopped'> {
  for (;;) {
    const target = tail.liveThrough();
    if (tail.cursor >= target) break;
    const outcome = await tail.readPage(target);
    if (outcome === 'stopped') return 'stopped';
    if (outcome === 'ended') break;
  }
  tail.goLive();
  return 'live';
}
