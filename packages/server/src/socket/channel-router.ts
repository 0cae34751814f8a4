// Routes each client message to its handler: heartbeat, join, leave, broadcast, presence, access_token.
import { ChannelEvent, CloseCode, FeatureEvent, JoinError, PHOENIX_TOPIC, SystemMessage, type Message } from '@nself/protocol';
import { handleBroadcast, type BroadcastHandlerDeps } from '../channel/broadcast-handler.js';
import type { ClientSocket, Dispatch } from './client-socket.js';
import { handleJoin, handleLeave, type JoinDeps } from '../channel/join-handler.js';
import { handlePresence, type PresenceHandlerDeps } from '../channel/presence-handler.js';
import { handleAccessToken, type TokenHandlerDeps } from '../channel/token-handler.js';

/** What the handlers of client messages use, together. */
export type RouterDeps = JoinDeps & BroadcastHandlerDeps & PresenceHandlerDeps & TokenHandlerDeps;

/** Builds the dispatcher a socket calls for every decoded message. */
export function createRouter(deps: RouterDeps): Dispatch {
  return async (socket, message, refusal) => {
    if (message.topic === PHOENIX_TOPIC) {
      if (message.event !== ChannelEvent.heartbeat) return;
      if (!socket.heartbeats.take()) {
        socket.close(CloseCode.policyViolation, 'too many heartbeats per second');
        return;
      }
      if (refusal !== undefined) socket.reply(message, 'error', { reason: refusal });
      else socket.reply(message, 'ok', {});
      return;
    }
    await socket.serialize(message.topic, () => (refusal === undefined ? route(deps, socket, message) : refuse(socket, message, refusal)));
  };
}

async function route(deps: RouterDeps, socket: ClientSocket, message: Message): Promise<void> {
  if (message.event === ChannelEvent.join) return handleJoin(deps, socket, message);
  const channel = socket.channels.get(message.topic);
  if (!channel) {
    if (message.event === ChannelEvent.leave) return handleLeave(socket, message);
    // During a shutdown every channel is already closed: the client is told to send again elsewhere.
    if (message.ref !== null) socket.reply(message, 'error', { reason: deps.shuttingDown ? JoinError.restarting : JoinError.unmatchedTopic });
    return;
  }
  // A message of an older incarnation of this channel is stale; messages without a join_ref are kept.
  if (message.joinRef !== null && channel.joinRef !== null && message.joinRef !== channel.joinRef) return;
  switch (message.event) {
    case ChannelEvent.leave:
      return handleLeave(socket, message);
    case FeatureEvent.broadcast:
      return handleBroadcast(deps, socket, channel, message);
    case FeatureEvent.presence:
      return handlePresence(deps, socket, channel, message);
    case ChannelEvent.accessToken:
      return handleAccessToken(deps, channel, message);
    default:
      return;
  }
}

/**
 * Answers a message whose JSON was over the limits, without acting on it: an error reply with the
 * reason, except for broadcasts, which are answered only on channels joined with `ack` (as any
 * refused broadcast) and count against the message rate like accepted ones. A `phx_leave` still leaves.
 */
async function refuse(socket: ClientSocket, message: Message, reason: string): Promise<void> {
  if (message.event === ChannelEvent.leave) return handleLeave(socket, message);
  if (message.event === FeatureEvent.broadcast) {
    const channel = socket.channels.get(message.topic);
    if (!socket.messages.take()) return channel?.shutdown(SystemMessage.tooManyMessages);
    if (!channel?.options.ack) return;
  }
  if (message.ref !== null) socket.reply(message, 'error', { reason });
}
