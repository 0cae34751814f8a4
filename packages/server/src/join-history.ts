// What a join receives from the channel's log before the live stream: a resume after an offset and/or Supabase's replay window.
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
 * `replayMax`. Both together give their union.
 */
export async function readJoinHistory(
  ctx: ServerContext, channelId: string, request: { resumeAfter: number | undefined; replay: ReplayOption | undefined },
): Promise<JoinHistory> {
  const byOffset = new Map<number, StoredMessage>();
  const reply: Record<string, unknown> = {};
  let notice: string | undefined;
  if (request.resumeAfter !== undefined) {
    const after = request.resumeAfter;
    const resumed = await readAfter(ctx.pool, channelId, after);
    for (const message of resumed.messages) byOffset.set(message.offset, message);
    reply['resume'] = { recovered: resumed.complete, offset: after, earliest_offset: resumed.earliest, latest_offset: resumed.latest };
    if (!resumed.complete) {
      notice = `ResumeUnavailable: messages after offset ${after} are no longer retained; resuming from offset ${resumed.earliest}`;
    }
  }
  if (request.replay) {
    const window = await readRecentSince(ctx.pool, channelId, request.replay.since, replayLimit(request.replay, ctx.config.replayMax));
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
