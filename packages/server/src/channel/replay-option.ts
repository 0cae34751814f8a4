// Reads Supabase's join option `config.broadcast.replay: {since, limit}` (the stored messages a join receives before the live stream; Supabase offers it on private channels, this server on every channel).
import { isJsonObject, JoinError } from '@nself/protocol';
import { Refusal } from '../refusal.js';

/** What a join asked to replay: messages sent at or after `since`, at most `limit` (capped by the server). */
export interface ReplayOption {
  readonly since: Date;
  /** Undefined: the server's maximum. */
  readonly limit: number | undefined;
}

/**
 * Reads `config.broadcast.replay`: absent or null means no replay; otherwise an object whose `since`
 * (unix milliseconds, default 0) and `limit` (default the server's maximum) are whole numbers.
 */
export function readReplayOption(value: unknown): ReplayOption | undefined {
  if (value === undefined || value === null) return undefined;
  const invalid = (problem: string) => new Refusal('InvalidReplay', `${JoinError.replayInvalid}: ${problem}`);
  if (!isJsonObject(value)) throw invalid('replay must be an object like {"since": 1735689600000, "limit": 10}');
  const { since = 0, limit } = value;
  if (typeof since !== 'number' || !Number.isSafeInteger(since)) throw invalid('since must be a whole number of unix milliseconds');
  if (limit !== undefined && limit !== null && (typeof limit !== 'number' || !Number.isSafeInteger(limit))) {
    throw invalid('limit must be a whole number');
  }
  return { since: new Date(since), limit: typeof limit === 'number' ? limit : undefined };
}

/** The number of messages a replay returns: `limit` brought into 1 to `max`, as Supabase clamps it. */
export function replayLimit(option: ReplayOption, max: number): number {
  return Math.min(max, Math.max(1, option.limit ?? max));
}
