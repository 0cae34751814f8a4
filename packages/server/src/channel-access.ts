// Which channel a topic names, and who may read and send there: public channels are created on first
// join, private channels admit only their members (realtime.channel_members) and the service role.
import { checkTopic, isMember, MAX_CHANNEL_NAME_LENGTH, type Channel } from '@nself/db';
import type { Identity } from './auth.js';
import type { ServerContext } from './context.js';
import { SERVICE_ROLE } from './table-changes/audience.js';

/** The outcome of resolving a join's channel. */
export type ChannelLookup =
  | { readonly kind: 'ok'; readonly channel: Channel }
  | { readonly kind: 'invalid' }
  | { readonly kind: 'unauthorized' };

/**
 * Finds the channel of a sub-topic and checks read access. An unknown channel is created as public,
 * or as private when the service role asks for a private one (anyone else asking for a private one is
 * refused). A private channel (by its type, or asked for) needs the identity's user to be a member, or
 * the identity to be the service role.
 */
export async function resolveChannel(ctx: ServerContext, subTopic: string, identity: Identity, wantsPrivate: boolean): Promise<ChannelLookup> {
  // Topics are exact: the channel's slug is the sub-topic itself. A new channel's topic must fit a
  // broadcast frame; one made before that limit is still found.
  if (subTopic.length === 0 || [...subTopic].length > MAX_CHANNEL_NAME_LENGTH) return { kind: 'invalid' };
  let channel = await ctx.channels.find(subTopic);
  if (!channel) {
    let slug: string;
    try {
      slug = checkTopic(subTopic);
    } catch {
      return { kind: 'invalid' };
    }
    // Only the service role may bring a private channel into being (it passes every private channel's check, as on Supabase).
    if (wantsPrivate && !passesMembership(identity)) return { kind: 'unauthorized' };
    channel = await ctx.channels.createForTopic(slug, wantsPrivate ? 'private' : 'public');
    if (!channel) return { kind: 'invalid' };
  }
  if (channel.type === 'private' || wantsPrivate) {
    if (channel.type !== 'private' || !(await mayAccess(ctx, channel, identity))) return { kind: 'unauthorized' };
  }
  return { kind: 'ok', channel };
}

/** Whether the identity may send to (or track presence in) a channel: anyone in public ones, members and the service role in private ones. */
export async function mayAccess(ctx: ServerContext, channel: Channel, identity: Identity): Promise<boolean> {
  if (channel.type !== 'private' || passesMembership(identity)) return true;
  if (!identity.userId) return false;
  return isMember(ctx.pool, channel.id, identity.userId);
}

/**
 * Whether the identity passes every private channel's membership check: a verified token with role
 * `service_role`, as Supabase's service role bypasses channel authorisation. Development mode verifies
 * no token, so there a `service_role` claim is no member of anything.
 */
export function passesMembership(identity: Identity): boolean {
  return identity.verified && identity.role === SERVICE_ROLE;
}
