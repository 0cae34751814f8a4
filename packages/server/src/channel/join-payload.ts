// Reads a phx_join payload: the token to use, the channel options, the bindings, a replay window and resume points.
import { InvalidResumeError, isJsonObject, readResumePoints, type JsonObject, type ResumePoints } from '@nself/protocol';
import { parseBindings, type IdentifiedBinding } from '../table-changes/postgres-changes.js';
import { Refusal } from '../refusal.js';
import { readReplayOption, type ReplayOption } from './replay-option.js';

/** A join payload read into what the server acts on. */
export interface JoinRequest {
  /** The channel token (`access_token`, or legacy `user_token`); undefined means the socket's token. */
  readonly token: string | undefined;
  readonly self: boolean;
  readonly ack: boolean;
  /** `config.presence.enabled`; true when the client sends no flag (realtime-js before 2.11.16, other SDKs), as hosted Supabase took it. */
  readonly presenceEnabled: boolean;
  /** `config.presence.key`; '' when none was given, and the join then gets a random key of its own. */
  readonly presenceKey: string;
  readonly private: boolean;
  readonly bindings: IdentifiedBinding[];
  /** Replay stored messages since a time (Supabase's `config.broadcast.replay`). */
  readonly replay: ReplayOption | undefined;
  /** Resume after this offset (see ResumePoints). */
  readonly resumeAfter: number | undefined;
  /** Resume table changes after this log position (see ResumePoints). */
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
    presenceEnabled: presence['enabled'] === undefined || presence['enabled'] === null || flag(presence['enabled']),
    presenceKey: presenceKeyOf(presence['key']),
    private: flag(config['private']),
    bindings: parseBindings(config['postgres_changes']),
    replay: readReplayOption(broadcast['replay']),
    ...resumeRequest(config),
  };
}

/** The join's resume points, a refused one as an InvalidJoinPayload Refusal. */
function resumeRequest(config: JsonObject): Pick<JoinRequest, 'resumeAfter' | 'changesResumeAfter'> {
  let points: ResumePoints;
  try {
    points = readResumePoints(config);
  } catch (error) {
    throw error instanceof InvalidResumeError ? new Refusal('InvalidJoinPayload', error.message) : error;
  }
  return { resumeAfter: points.broadcastAfter, changesResumeAfter: points.changesAfter };
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
