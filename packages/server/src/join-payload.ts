// Reads a phx_join payload: the token to use, the channel options, the bindings, a replay window and resume points.
import { isJsonObject } from '@nself/protocol';
import { parseBindings, type IdentifiedBinding } from './postgres-changes.js';
import { Refusal } from './refusal.js';
import { readReplayOption, type ReplayOption } from './replay-option.js';

/** A join payload read into what the server acts on. */
export interface JoinRequest {
  /** The channel token (`access_token`, or legacy `user_token`); undefined means the socket's token. */
  readonly token: string | undefined;
  readonly self: boolean;
  readonly ack: boolean;
  readonly presenceEnabled: boolean;
  readonly presenceKey: string;
  readonly private: boolean;
  readonly bindings: IdentifiedBinding[];
  /** Replay stored messages since a time (Supabase's `config.broadcast.replay`). */
  readonly replay: ReplayOption | undefined;
  /** Resume after this offset (protocol extension `config.broadcast.resume.offset`). */
  readonly resumeAfter: number | undefined;
  /** Resume table changes after this log position (protocol extension `config.postgres_changes_resume.position`). */
  readonly changesResumeAfter: number | undefined;
}

/** Reads a join payload; booleans may also be "true"/"false" strings, as other SDKs send them. Throws an InvalidJoinPayload or InvalidReplay Refusal. */
export function readJoinPayload(payload: unknown): JoinRequest {
  const body = isJsonObject(payload) ? payload : {};
  const config = isJsonObject(body['config']) ? body['config'] : {};
  const broadcast = isJsonObject(config['broadcast']) ? config['broadcast'] : {};
  const presence = isJsonObject(config['presence']) ? config['presence'] : {};
  const token = [body['access_token'], body['user_token']].find((value): value is string => typeof value === 'string' && value !== '');
  return {
    token: token && !token.startsWith('sb_') ? token : undefined,
    self: flag(broadcast['self']),
    ack: flag(broadcast['ack']),
    presenceEnabled: flag(presence['enabled']),
    presenceKey: presenceKeyOf(presence['key']),
    private: flag(config['private']),
    bindings: parseBindings(config['postgres_changes']),
    replay: readReplayOption(broadcast['replay']),
    resumeAfter: resumePoint(broadcast['resume'], 'offset', 'broadcast.resume.offset'),
    changesResumeAfter: resumePoint(config['postgres_changes_resume'], 'position', 'postgres_changes_resume.position'),
  };
}

/** The most characters of a presence key (as stored with a presence session). */
const MAX_PRESENCE_KEY_LENGTH = 255;

/** `config.presence.key` as a string ('' when absent: the server picks one); a longer key than stored is refused. */
function presenceKeyOf(value: unknown): string {
  const key = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
  if ([...key].length > MAX_PRESENCE_KEY_LENGTH) {
    throw new Refusal('InvalidJoinPayload', `presence.key must be at most ${MAX_PRESENCE_KEY_LENGTH} characters`);
  }
  return key;
}

function flag(value: unknown): boolean {
  return value === true || (typeof value === 'string' && value.toLowerCase() === 'true');
}

/** A resume point `value[field]`: absent, or a whole number of 0 or more (else the join is refused naming `name`). */
function resumePoint(value: unknown, field: string, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const point = isJsonObject(value) ? value[field] : undefined;
  if (typeof point !== 'number' || !Number.isSafeInteger(point) || point < 0) {
    throw new Refusal('InvalidJoinPayload', `InvalidResume: ${name} must be a whole number of 0 or more`);
  }
  return point;
}
