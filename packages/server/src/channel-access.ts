// Which channel a topic names, and who may read and send there: public channels are created on first
// join, private channels admit only their members (realtime.channel_members).
import { isMember, slugify, type Channel } from '@nself/db';
import type { Identity } from './auth.js';
import type { ServerContext } from './context.js';

/** The outcome of resolving a join's channel. */
export type ChannelLookup =
  | { readonly kind: 'ok'; readonly channel: Channel }
  | { readonly kind: 'invalid' }
  | { readonly kind: 'unauthorized' };

/**
 * Finds the channel of a sub-topic and checks read access. An unknown channel is created as public,
 * unless the client asked for a private one. A private channel (by its type, or asked for) needs
 * the identity's user to be a member.
 */
export async function resolveChannel(ctx: ServerContext, subTopic: string, identity: Identity, wantsPrivate: boolean): Promise<ChannelLookup> {
  let slug: string;
  try {
    slug = slugify(subTopic);
  } catch {
    return { kind: 'invalid' };
  }
  let channel = await ctx.channels.find(slug);
  if (!channel) {
    if (wantsPrivate) return { kind: 'unauthorized' };
    channel = await ctx.channels.createPublic(subTopic, slug);
    if (!channel) return { kind: 'invalid' };
  }
  if (channel.type === 'private' || wantsPrivate) {
    if (channel.type !== 'private' || !(await mayAccess(ctx, channel, identity))) return { kind: 'unauthorized' };
  }
  return { kind: 'ok', channel };
}

/** Whether the identity may send to (or track presence in) a channel: anyone in public ones, members in private ones. */
export async function mayAccess(ctx: ServerContext, channel: Channel, identity: Identity): Promise<boolean> {
  if (channel.type !== 'private') return true;
  if (!identity.userId) return false;
  return isMember(ctx.pool, channel.id, identity.userId);
}
