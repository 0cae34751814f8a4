// Routes each client message to its handler: heartbeat, join, leave, broadcast, presence, access_token.
import { ChannelEvent, FeatureEvent, JoinError, PHOENIX_TOPIC, type Message } from '@nself/protocol';
import { handleBroadcast } from './broadcast-handler.js';
import type { ClientSocket } from './client-socket.js';
import type { ServerContext } from './context.js';
import { handleJoin, handleLeave } from './join-handler.js';
import { handlePresence } from './presence-handler.js';
import { handleAccessToken } from './token-handler.js';

/** Builds the dispatcher a socket calls for every decoded message. */
export function createRouter(ctx: ServerContext): (socket: ClientSocket, message: Message) => Promise<void> {
  return async (socket, message) => {
    if (message.topic === PHOENIX_TOPIC) {
      if (message.event === ChannelEvent.heartbeat) socket.reply(message, 'ok', {});
      return;
    }
    await socket.serialize(message.topic, () => route(ctx, socket, message));
  };
}

async function route(ctx: ServerContext, socket: ClientSocket, message: Message): Promise<void> {
  if (message.event === ChannelEvent.join) return handleJoin(ctx, socket, message);
  const channel = socket.channels.get(message.topic);
  if (!channel) {
    if (message.event === ChannelEvent.leave) return handleLeave(socket, message);
    if (message.ref !== null) socket.reply(message, 'error', { reason: JoinError.unmatchedTopic });
    return;
  }
  // A message of an older incarnation of this channel is stale; messages without a join_ref are kept.
  if (message.joinRef !== null && channel.joinRef !== null && message.joinRef !== channel.joinRef) return;
  switch (message.event) {
    case ChannelEvent.leave: return handleLeave(socket, message);
    case FeatureEvent.broadcast: return handleBroadcast(ctx, socket, channel, message);
    case FeatureEvent.presence: return handlePresence(ctx, socket, channel, message);
    case ChannelEvent.accessToken: return handleAccessToken(ctx, channel, message);
    default: return;
  }
}
