// REST moderation, membership and channel settings: delete a channel's message, remove a member, add a member or change a
// role, change a channel's type or metadata, delete a channel, each for the token's user as their role in the channel allows (the service role may do all), enforced by the database.
import type { IncomingMessage } from 'node:http';
import { deleteChannelAs, deleteMessageAs, findChannel, ModerationRefusal, removeMemberAs, setMemberRoleAs, updateChannelAs, type Actor, type Pool } from '@nself/db';
import { isJsonObject, RestError } from '@nself/protocol';
import { passesMembership } from '../channel/channel-access.js';
import type { Authenticator } from '../auth/auth.js';
import { authenticate } from '../auth/request-identity.js';
import type { RestAnswer } from './rest-json.js';

/** `PATCH` and `DELETE /api/channels/:channel` */
export const CHANNEL_PATH = /^\/api\/channels\/([^/]+)$/;
/** `DELETE /api/channels/:channel/messages/:offset` */
export const MESSAGE_PATH = /^\/api\/channels\/([^/]+)\/messages\/([^/]+)$/;
/** `DELETE` and `PUT /api/channels/:channel/members/:user` */
export const MEMBER_PATH = /^\/api\/channels\/([^/]+)\/members\/([^/]+)$/;

/** The token's check, and the database that enforces the roles. */
export interface ModerationDeps {
  readonly pool: Pool;
  readonly auth: Pick<Authenticator, 'verify'>;
}

const STATUS: Record<ModerationRefusal['kind'], number> = { forbidden: 403, not_found: 404, invalid: 422, full: 409 };

/** Deletes the message at `offset` of a channel (its slug, name or id): moderators, admins and the service role. */
export function deleteMessage(deps: ModerationDeps, request: IncomingMessage, channelName: string, offsetText: string): Promise<RestAnswer> {
  const offset = Number(offsetText);
  if (!/^[1-9][0-9]{0,15}$/.test(offsetText) || !Number.isSafeInteger(offset)) {
    return Promise.resolve({ status: 422, body: { error: `message offset "${offsetText}" is not a whole number of 1 or more` } });
  }
  return act(deps, request, channelName, (actor, topic) => deleteMessageAs(deps.pool, actor, topic, offset));
}

/** Removes a member of a channel: the member themself, moderators (members only), admins and the service role. */
export function removeMember(deps: ModerationDeps, request: IncomingMessage, channelName: string, userId: string): Promise<RestAnswer> {
  return act(deps, request, channelName, (actor, topic) => removeMemberAs(deps.pool, actor, topic, userId));
}

/** Adds a user to a channel with the body's `role` (default member), or changes a member's role: admins and the service role. */
export function putMember(deps: ModerationDeps, request: IncomingMessage, channelName: string, userId: string, body: Buffer): Promise<RestAnswer> {
  const parsed = readObject(body);
  if (!parsed) return Promise.resolve({ status: 400, body: { error: 'the body must be a JSON object, e.g. {"role": "moderator"}' } });
  const role = parsed['role'] ?? 'member';
  if (typeof role !== 'string') return Promise.resolve({ status: 422, body: { error: 'the body must be an object whose "role" is member, moderator or admin' } });
  return act(deps, request, channelName, (actor, topic) => setMemberRoleAs(deps.pool, actor, topic, userId, role));
}

/** Changes a channel's `type` and/or `metadata` (the body's): admins and the service role. */
export function patchChannel(deps: ModerationDeps, request: IncomingMessage, channelName: string, body: Buffer): Promise<RestAnswer> {
  const parsed = readObject(body);
  if (!parsed) return Promise.resolve({ status: 400, body: { error: 'the body must be a JSON object, e.g. {"type": "private", "metadata": {"max_members": 10}}' } });
  const { type, metadata } = parsed;
  if (type !== undefined && typeof type !== 'string') return Promise.resolve({ status: 422, body: { error: 'the body\'s "type" must be public, private or presence' } });
  if (type === undefined && metadata === undefined) return Promise.resolve({ status: 422, body: { error: 'the body must give "type", "metadata" or both' } });
  return act(deps, request, channelName, (actor, topic) =>
    updateChannelAs(deps.pool, actor, topic, { ...(type !== undefined ? { type } : {}), ...(metadata !== undefined ? { metadata } : {}) }),
  );
}

/** Deletes a channel: admins and the service role. */
export function deleteChannel(deps: ModerationDeps, request: IncomingMessage, channelName: string): Promise<RestAnswer> {
  return act(deps, request, channelName, (actor, topic) => deleteChannelAs(deps.pool, actor, topic));
}

/** A JSON object body ({} when empty); undefined when the body is not one. */
function readObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = body.length > 0 ? JSON.parse(body.toString('utf8')) : {};
    return isJsonObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Finds the channel and the actor of the request's token, then runs the action: 204 when done, else the refusal's status and text. */
async function act(deps: ModerationDeps, request: IncomingMessage, channelName: string, action: (actor: Actor, topic: string) => Promise<void>): Promise<RestAnswer> {
  const identity = await authenticate(deps, request);
  if (!identity) return RestError.unauthorized;
  let actor: Actor;
  if (passesMembership(identity)) actor = { kind: 'service' };
  else if (identity.userId) actor = { kind: 'user', userId: identity.userId };
  else return { status: 403, body: { error: 'moderation needs a token that names its user (`sub`), or the service role' } };
  const channel = await findChannel(deps.pool, channelName);
  if (!channel) return { status: 404, body: { error: `no channel "${channelName}"; give its name, slug or id` } };
  try {
    await action(actor, channel.slug);
  } catch (error) {
    if (error instanceof ModerationRefusal) return { status: STATUS[error.kind], body: { error: error.message } };
    throw error;
  }
  return { status: 204 };
}
