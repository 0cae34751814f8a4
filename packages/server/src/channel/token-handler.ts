// `access_token` pushes: a refreshed token replaces the channel's identity, or closes the channel when it is not valid
// or no longer admits it (a private channel's membership and policies are judged again, as on Supabase).
import { isJsonObject, SystemMessage, type Message } from '@nself/protocol';
import { privateAccess } from './channel-access.js';
import type { JoinedChannel } from './joined-channel.js';
import type { ServerContext } from '../context.js';
import { isRefusal, tokenSystemMessage } from '../refusal.js';

/** Handles an `access_token` push (no reply, as the client expects none). */
export async function handleAccessToken(ctx: ServerContext, channel: JoinedChannel, message: Message): Promise<void> {
  const token = isJsonObject(message.payload) ? message.payload['access_token'] : undefined;
  if (typeof token !== 'string' || token === '' || token.startsWith('sb_')) return;
  let identity;
  try {
    identity = await ctx.auth.verify(token);
  } catch (error) {
    if (isRefusal(error, 'InvalidToken')) return channel.shutdown(tokenSystemMessage(error));
    throw error;
  }
  // The token the channel already has (a verified token string gives back the same identity).
  if (identity === channel.identity) return;
  let policyGrants = null;
  if (channel.channel.type === 'private') {
    const access = await privateAccess(ctx, channel.channel, identity, 'receive');
    if (access.kind !== 'ok') return channel.shutdown(SystemMessage.permissionRevoked(channel.subTopic));
    policyGrants = access.policyGrants;
  }
  await channel.setIdentity(identity, policyGrants);
}
