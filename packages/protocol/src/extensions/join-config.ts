// The phx_join payload a client sends: Supabase's fields, and the resume points of a client that rejoins where it left off.
import type { PostgresChangesBinding } from '../bindings.js';
import { isJsonObject, type JsonObject } from '../message.js';
import { ResumeError } from './resume-errors.js';

/** `config.broadcast` of a join. */
export interface BroadcastJoinConfig {
  /** Receive my own broadcasts too. */
  readonly self?: boolean;
  /** Have each broadcast acknowledged (with its offset, see BroadcastAck). */
  readonly ack?: boolean;
  /** Supabase's replay: stored messages sent at or after `since` (unix ms), at most `limit`. */
  readonly replay?: { readonly since?: number; readonly limit?: number };
  /** Extension: the last offset received; every stored message after it comes first, then the live ones. */
  readonly resume?: { readonly offset: number };
}

/** `config` of a join. */
export interface JoinConfig {
  readonly broadcast?: BroadcastJoinConfig;
  readonly presence?: { readonly key?: string; readonly enabled?: boolean };
  readonly postgres_changes?: readonly PostgresChangesBinding[];
  readonly private?: boolean;
  /** Extension: the change-log position of the last table change received; every matching change after it comes first. */
  readonly postgres_changes_resume?: { readonly position: number };
}

/** The payload of a `phx_join`. */
export interface JoinPayload {
  readonly config: JoinConfig;
  readonly access_token?: string;
}

/** Where a join asks to resume; undefined where it does not. */
export interface ResumePoints {
  /** `config.broadcast.resume.offset`: deliver the channel's stored messages after this offset first. */
  readonly broadcastAfter: number | undefined;
  /** `config.postgres_changes_resume.position`: deliver the table changes after this position first. */
  readonly changesAfter: number | undefined;
}

/** A resume point that is not a whole number of 0 or more; the message is the join's error reason. */
export class InvalidResumeError extends Error {
  override readonly name = 'InvalidResumeError';
}

/** Reads the resume points of a join's `config`; throws InvalidResumeError naming the first one that is not valid. */
export function readResumePoints(config: JsonObject): ResumePoints {
  const broadcast = isJsonObject(config['broadcast']) ? config['broadcast'] : {};
  return {
    broadcastAfter: resumePoint(broadcast['resume'], 'offset', 'broadcast.resume.offset'),
    changesAfter: resumePoint(config['postgres_changes_resume'], 'position', 'postgres_changes_resume.position'),
  };
}

/** A resume point `value[field]`: absent (undefined or null), or a whole number of 0 or more. */
function resumePoint(value: unknown, field: string, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const point = isJsonObject(value) ? value[field] : undefined;
  if (typeof point !== 'number' || !Number.isSafeInteger(point) || point < 0) throw new InvalidResumeError(ResumeError.invalidPoint(name));
  return point;
}
