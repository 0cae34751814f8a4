// What a join receives from the channel's log before the live stream: a resume after an offset and/or Supabase's replay window
// (joins asking the same of the same channel at once share one read).
import { readAfter, readRecentSince, type Message as StoredMessage } from '@nself/db';
import type { ServerContext } from './context.js';
import { replayLimit, type ReplayOption } from './replay-option.js';

/** The stored messages a join sends first (oldest first, each once), what its reply says about them, and any notice. */
export interface JoinHistory {
  readonly messages: StoredMessage[];
  /** Fields added to the join reply's `response`: `resume` and/or `replay`. */
  readonly reply: Record<string, unknown>;
  /** The ResumeUnavailable text, when messages after the resume offset are no longer retained. */
  readonly notice: string | undefined;
}

/**
 * Reads what a join asked for: with `resumeAfter`, every stored message after it (and whether the
 * log still held all of them); with `replay`, the newest messages since its time, at most
 * `replayMax`. Both together give their union. Joins of the same channel asking for the same range
 * while an identical read is queued share it (the result is read after each of them asked).
 */
export function readJoinHistory(
  ctx: ServerContext, channelId: string, request: { resumeAfter: number | undefined; replay: ReplayOption | undefined },
): Promise<JoinHistory> {
  const { resumeAfter, replay } = request;
  const limit = replay ? replayLimit(replay, ctx.config.replayMax) : undefined;
  const key = [channelId, resumeAfter ?? '', replay?.since.getTime() ?? '', limit ?? ''].join('\u0000');
  return ctx.histories.read(key, () => readFromLog(ctx, channelId, resumeAfter, replay && limit !== undefined ? { since: replay.since, limit } : undefined));
}

async function readFromLog(
  ctx: ServerContext, channelId: string, resumeAfter: number | undefined, replay: { since: Date; limit: number } | undefined,
): Promise<JoinHistory> {
  const byOffset = new Map<number, StoredMessage>();
  const reply: Record<string, unknown> = {};
  let notice: string | undefined;
  if (resumeAfter !== undefined) {
    const after = resumeAfter;
    const resumed = await readAfter(ctx.pool, channelId, after);
    for (const message of resumed.messages) byOffset.set(message.offset, message);
    reply['resume'] = { recovered: resumed.complete, offset: after, earliest_offset: resumed.earliest, latest_offset: resumed.latest };
    if (!resumed.complete) {
      notice = `ResumeUnavailable: messages after offset ${after} are no longer retained; resuming from offset ${resumed.earliest}`;
    }
  }
  if (replay) {
    const window = await readRecentSince(ctx.pool, channelId, replay.since, replay.limit);
    for (const message of window.messages) byOffset.set(message.offset, message);
    reply['replay'] = {
      count: window.messages.length,
      first_offset: window.messages[0]?.offset ?? null,
      last_offset: window.messages.at(-1)?.offset ?? null,
      truncated: window.truncated,
    };
  }
  return { messages: [...byOffset.values()].sort((a, b) => a.offset - b.offset), reply, notice };
}
