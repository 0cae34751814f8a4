// What a join receives from the channel's log before the live stream: a resume after an offset and/or Supabase's replay window,
// measured before the reply (joins asking the same of the same channel at once share the read) and then streamed in pages.
import { readLogBounds, readReplayWindow, type LogBounds, type Pool, type ReplayWindow } from '@nself/db';
import { ResumeError, type HistoryReports, type ReplayReport, type ResumeReport } from '@nself/protocol';
import type { HistoryReads, StreamRange } from '../broadcast/history-reads.js';
import { sharedLoads } from '../batches.js';
import { replayLimit, type ReplayOption } from './replay-option.js';

/** What a join's reply says about the stored messages it receives first, and where they are. */
export interface JoinHistory {
  /** Fields added to the join reply's `response`. */
  readonly reply: HistoryReports;
  /** The ResumeUnavailable text, when messages after the resume offset are no longer retained. */
  readonly notice: string | undefined;
  readonly resumeAfter: number | undefined;
  readonly bounds: LogBounds;
  /** Supabase's replay window and its `since`, when the join asked for one. */
  readonly replay: { readonly since: Date; readonly window: ReplayWindow } | undefined;
}

/**
 * Measures what a join asked for, without reading a payload: with `resumeAfter`, every stored message
 * after it (and whether the log still holds all of them); with `replay`, the newest messages since
 * its time, at most `replayMax`. Both together give their union. Joins of the same channel asking for
 * the same range while an identical read is queued share it (the result is read after each of them asked).
 */
export class JoinHistoryReads {
  private readonly measures = sharedLoads<JoinHistory>();

  constructor(
    private readonly pool: Pool,
    /** Where the measures wait their turn among the server's reads of history. */
    private readonly history: Pick<HistoryReads, 'run'>,
    private readonly replayMax: number,
  ) {}

  read(channelId: string, request: { resumeAfter: number | undefined; replay: ReplayOption | undefined }): Promise<JoinHistory> {
    const { resumeAfter, replay } = request;
    const limit = replay ? replayLimit(replay, this.replayMax) : undefined;
    const key = [channelId, resumeAfter ?? '', replay?.since.getTime() ?? '', limit ?? ''].join('\u0000');
    const window = replay && limit !== undefined ? { since: replay.since, limit } : undefined;
    return this.measures.request(key, () => this.history.run(() => measure(this.pool, channelId, resumeAfter, window)));
  }
}

async function measure(pool: Pool, channelId: string, resumeAfter: number | undefined, replay: { since: Date; limit: number } | undefined): Promise<JoinHistory> {
  let resume: ResumeReport | undefined;
  let notice: string | undefined;
  const bounds = await readLogBounds(pool, channelId);
  if (resumeAfter !== undefined) {
    // The retained part of a log has no hole, so nothing is missing when it starts right after the offset.
    const recovered = resumeAfter >= bounds.latest || resumeAfter + 1 >= bounds.earliest;
    resume = { recovered, offset: resumeAfter, earliest_offset: bounds.earliest, latest_offset: bounds.latest };
    if (!recovered) notice = ResumeError.messagesNotRetained(resumeAfter, bounds.earliest);
  }
  let measured: JoinHistory['replay'];
  let replayed: ReplayReport | undefined;
  if (replay) {
    const window = await readReplayWindow(pool, channelId, replay.since, replay.limit);
    measured = { since: replay.since, window };
    replayed = { count: window.count, first_offset: window.firstOffset, last_offset: window.lastOffset, truncated: window.truncated };
  }
  const reply = { ...(resume ? { resume } : {}), ...(replayed ? { replay: replayed } : {}) };
  return { reply, notice, resumeAfter, bounds, replay: measured };
}

/**
 * Where a join's stream starts and what it holds, given the offset after which live broadcasts reach
 * it: everything after the resume offset (or, without one, after `liveAfter`), and below that the
 * replay window's messages. The stream ends where the live messages take over.
 */
export function streamStart(history: JoinHistory, liveAfter: number): { cursor: number; range: StreamRange } {
  const anyTimeAfter = history.resumeAfter !== undefined ? Math.min(history.resumeAfter, history.bounds.latest) : liveAfter;
  const first = history.replay?.window.firstOffset;
  const cursor = first === null || first === undefined ? anyTimeAfter : Math.min(anyTimeAfter, first - 1);
  return { cursor, range: { anyTimeAfter, since: history.replay?.since } };
}
