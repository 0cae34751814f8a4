// `access_token` pushes: a refreshed token replaces the channel's identity, or closes the channel when it is not valid
// or no longer admits it (a private channel's membership and policies are judged again, as on Supabase).
import { isJsonObject, SystemMessage, type Message } from '@nself/protocol';
import { privateAccess, type AccessCheckDeps } from './channel-access.js';
import type { JoinedChannel } from './joined-channel.js';
import type { Authenticator } from '../auth/auth.js';
import { isRefusal, tokenSystemMessage } from '../refusal.js';

/** What a refreshed token is checked by: the token's verification and the private channel's access. */
export interface TokenHandlerDeps extends AccessCheckDeps {
  readonly auth: Pick<Authenticator, 'verify'>;
}

/** Handles an `access_token` push (no reply, as the client expects none). */
export async function handleAccessToken(deps: TokenHandlerDeps, channel: JoinedChannel, message: Message): Promise<void> {
  const token = isJsonObject(message.payload) ? message.payload['access_token'] : undefined;
  if (typeof token !== 'string' || token === '' || token.startsWith('sb_')) return;
  let identity;
  try {
    identity = await deps.auth.verify(token);
  } catch (error) {
    if (isRefusal(error, 'InvalidToken')) return channel.shutdown(tokenSystemMessage(error));
    throw error;
  }
  // The token the channel already has (a verified token string gives back the same identity).
  if (identity === channel.identity) return;
  let policyGrants = null;
  if (channel.record.type === 'private') {
    const access = await privateAccess(deps, channel.record, identity, 'receive');
    if (access.kind !== 'ok') return channel.shutdown(SystemMessage.permissionRevoked(channel.subTopic));
    policyGrants = access.policyGrants;
  }
  await channel.setIdentity(identity, policyGrants);
}
