// The ok reply to a phx_join: Supabase's echoed bindings, plus where the live stream starts and what a resume or replay covers.
import type { PostgresChangesBinding } from '../bindings.js';
import { isJsonObject } from '../message.js';

/** `response.resume`, when the join asked to resume: whether every message after `offset` is still in the log. */
export interface ResumeReport {
  /** False when retention deleted messages after `offset`; delivery then starts at `earliest_offset`. */
  readonly recovered: boolean;
  readonly offset: number;
  readonly earliest_offset: number;
  readonly latest_offset: number;
}

/** `response.replay`, when the join asked for Supabase's replay: what the replayed messages cover. */
export interface ReplayReport {
  readonly count: number;
  /** Offsets of the oldest and newest replayed message; null when none is. */
  readonly first_offset: number | null;
  readonly last_offset: number | null;
  /** True when older messages since `since` were left out by the cap. */
  readonly truncated: boolean;
}

/** What a join's reply says of the stored messages the join receives first, when it asked for any. */
export interface HistoryReports {
  readonly resume?: ResumeReport;
  readonly replay?: ReplayReport;
}

/** `response` of a join's ok reply. */
export interface JoinReply extends HistoryReports {
  /** The join's bindings in order, each with the id its change events carry (Supabase's field). */
  readonly postgres_changes: readonly (PostgresChangesBinding & { readonly id: number })[];
  /** Extension: the offset after which the channel receives every live message (the resume point of a client that has received nothing). */
  readonly broadcast: { readonly latest_offset: number };
}

/** What a client takes from a join's ok reply. */
export interface JoinReplyReading {
  /** The id of each binding, in the order the join sent them (undefined where the server gave none). */
  readonly bindingIds: unknown[];
  /** `broadcast.latest_offset`, when the server sent one. */
  readonly latestOffset: number | undefined;
  /** `replay.first_offset`: the offset of the first replayed message, when the join asked for a replay and one came. */
  readonly replayFirstOffset: number | undefined;
}

/** Reads a join's ok `response`, whatever the server sent. */
export function readJoinReply(response: unknown): JoinReplyReading {
  const reply = isJsonObject(response) ? response : {};
  const bindings = reply['postgres_changes'];
  const broadcast = reply['broadcast'];
  const latest = isJsonObject(broadcast) ? broadcast['latest_offset'] : undefined;
  const replay = reply['replay'];
  const replayFirst = isJsonObject(replay) ? replay['first_offset'] : undefined;
  return {
    bindingIds: Array.isArray(bindings) ? bindings.map((binding) => (isJsonObject(binding) ? binding['id'] : undefined)) : [],
    latestOffset: typeof latest === 'number' ? latest : undefined,
    replayFirstOffset: typeof replayFirst === 'number' ? replayFirst : undefined,
  };
}
