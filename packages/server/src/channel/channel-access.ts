// Which channel a topic names, and who may read and send there: public channels are created on first
// join; private channels admit the service role, their members (realtime.channel_members), and whoever
// the row-level security policies on realtime.messages admit, as Supabase's private channels do.
import { checkTopic, isMember, MAX_CHANNEL_NAME_LENGTH, probeTopicPolicies, readsAny, type Channel, type Pool, type TopicGrants } from '@nself/db';
import type { Identity } from '../auth/auth.js';
import type { ChannelDirectory } from './channel-directory.js';
import type { Logger } from '../logger.js';
import { LogCode } from '../log-codes.js';
import { SERVICE_ROLE } from '../table-changes/audience.js';

/**
 * The outcome of resolving a channel. `policyGrants` is set when the policies on realtime.messages
 * admitted the identity (what they allow it there); null when it may do everything a channel allows
 * (a public channel, the service role, a member).
 */
export type ChannelLookup =
  { readonly kind: 'ok'; readonly channel: Channel; readonly policyGrants: TopicGrants | null } | { readonly kind: 'invalid' } | { readonly kind: 'unauthorized' };

/** What the checks of access read: the database, and the log for policies that could not be asked. */
export interface AccessCheckDeps {
  readonly pool: Pool;
  readonly logger: Logger;
}

/** What resolving a topic needs besides: the directory that finds and creates channels. */
export interface ChannelLookupDeps extends AccessCheckDeps {
  readonly channels: ChannelDirectory;
}

/** What the identity comes for: to receive (a join, which needs a read grant), or to send (REST, a write grant). */
export type AccessPurpose = 'receive' | 'send';

/**
 * Finds the channel of a sub-topic and checks access. An unknown topic becomes a public channel, or a
 * private one when the client asks for private and is the service role or the policies admit it
 * (anyone else asking for a private one is refused). A private channel (by its type, or asked for)
 * admits the service role, its members, and those the policies admit for `purpose`.
 */
export async function resolveChannel(
  deps: ChannelLookupDeps,
  subTopic: string,
  identity: Identity,
  wantsPrivate: boolean,
  purpose: AccessPurpose = 'receive',
): Promise<ChannelLookup> {
  // Topics are exact: the channel's slug is the sub-topic itself. A new channel's topic must fit a
  // broadcast frame; one made before that limit is still found.
  if (subTopic.length === 0 || [...subTopic].length > MAX_CHANNEL_NAME_LENGTH) return { kind: 'invalid' };
  const channel = await deps.channels.find(subTopic);
  if (channel) {
    if (channel.type === 'private') return privateAccess(deps, channel, identity, purpose);
    return wantsPrivate ? { kind: 'unauthorized' } : { kind: 'ok', channel, policyGrants: null };
  }
  let slug: string;
  try {
    slug = checkTopic(subTopic);
  } catch {
    return { kind: 'invalid' };
  }
  let policyGrants: TopicGrants | null = null;
  if (wantsPrivate && !passesMembership(identity)) {
    policyGrants = await askPolicies(deps, slug, null, identity);
    if (!allows(policyGrants, purpose)) return { kind: 'unauthorized' };
  }
  const made = await deps.channels.createForTopic(slug, wantsPrivate ? 'private' : 'public');
  if (!made) return { kind: 'invalid' };
  // Made meanwhile by someone else, of the other type: judged as found.
  if (made.type !== (wantsPrivate ? 'private' : 'public')) return resolveChannel(deps, subTopic, identity, wantsPrivate, purpose);
  return { kind: 'ok', channel: made, policyGrants };
}

/** Access to a private channel: everything for the service role and members, else what the policies grant for `purpose`. */
export async function privateAccess(deps: AccessCheckDeps, channel: Channel, identity: Identity, purpose: AccessPurpose): Promise<ChannelLookup> {
  if (passesMembership(identity) || (identity.userId && (await isMember(deps.pool, channel.id, identity.userId)))) {
    return { kind: 'ok', channel, policyGrants: null };
  }
  const policyGrants = await askPolicies(deps, channel.slug, channel.id, identity);
  return allows(policyGrants, purpose) ? { kind: 'ok', channel, policyGrants } : { kind: 'unauthorized' };
}

/**
 * Whether the identity may send to (`broadcast`) or track presence in (`presence`) a channel: anyone in
 * public ones; in private ones the service role, what the policies granted at join (`policyGrants`), and members.
 */
export async function mayWrite(deps: AccessCheckDeps, channel: Channel, identity: Identity, policyGrants: TopicGrants | null, extension: keyof TopicGrants): Promise<boolean> {
  if (channel.type !== 'private' || passesMembership(identity)) return true;
  if (policyGrants?.[extension].write) return true;
  return identity.userId !== null && isMember(deps.pool, channel.id, identity.userId);
}

/** Whether the identity may read a channel's messages (REST history): as a join of the channel would be admitted, needing a broadcast read grant. */
export async function mayReadMessages(deps: AccessCheckDeps, channel: Channel, identity: Identity): Promise<boolean> {
  if (channel.type !== 'private') return true;
  const lookup = await privateAccess(deps, channel, identity, 'receive');
  return lookup.kind === 'ok' && (lookup.policyGrants === null || lookup.policyGrants.broadcast.read);
}

/**
 * Whether the identity passes every private channel's membership check: a verified token with role
 * `service_role`, as Supabase's service role bypasses channel authorisation. Development mode verifies
 * no token, so there a `service_role` claim is no member of anything.
 */
export function passesMembership(identity: Identity): boolean {
  return identity.verified && identity.role === SERVICE_ROLE;
}

function allows(grants: TopicGrants, purpose: AccessPurpose): boolean {
  return purpose === 'receive' ? readsAny(grants) : grants.broadcast.write;
}

/** What the policies on realtime.messages grant the identity's role on `topic`; a probe that could not ask them is logged and grants nothing. */
async function askPolicies(deps: AccessCheckDeps, topic: string, channelId: string | null, identity: Identity): Promise<TopicGrants> {
  const { grants, problem } = await probeTopicPolicies(deps.pool, topic, channelId, {
    role: identity.role,
    claims: identity.claims,
    userId: identity.userId,
    verified: identity.verified,
  });
  if (problem)
    deps.logger.warn({ code: LogCode.policyCheckFailed, topic, role: identity.role, problem }, 'the row-level security policies on realtime.messages could not be asked');
  return grants;
}
