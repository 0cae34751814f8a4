// Client broadcasts on a joined channel: rate and size limits, write access, storing, `self` and `ack`.
import { eventNameProblem, isPayloadOverLimit } from '@nself/db';
import { isJsonObject, JoinError, PushError, SystemMessage, type BroadcastAck, type Message } from '@nself/protocol';
import { mayWrite, type AccessCheckDeps } from './channel-access.js';
import type { JoinedChannel, MessageSocket } from './joined-channel.js';
import type { BroadcastFeed } from '../broadcast/broadcast-feed.js';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { LogCode } from '../log-codes.js';

/** What a client broadcast is checked against and stored by. */
export interface BroadcastHandlerDeps extends AccessCheckDeps {
  readonly config: Pick<ServerConfig, 'limits'>;
  readonly logger: Logger;
  readonly broadcasts: Pick<BroadcastFeed, 'send'>;
  readonly shuttingDown: boolean;
}

/**
 * Stores and fans out a broadcast push (`{type, event, payload}`; for V2 binary frames the payload
 * may be bytes). With `ack` the reply comes once the message is stored, and carries its `offset`. Sends to a private channel
 * by a client neither a member nor let write by the policies on realtime.messages are dropped without a reply, as Supabase does. Resolves once the broadcast is queued for storing.
 */
export async function handleBroadcast(deps: BroadcastHandlerDeps, socket: MessageSocket, channel: JoinedChannel, message: Message): Promise<void> {
  if (!socket.messages.take()) return channel.shutdown(SystemMessage.tooManyMessages);
  const body = isJsonObject(message.payload) ? message.payload : {};
  const event = body['event'];
  const payload = body['payload'] ?? {};
  const ack = channel.options.ack;
  const eventProblem = typeof event === 'string' ? eventNameProblem(event) : 'event name must be a string';
  if (typeof event !== 'string' || eventProblem) {
    if (ack) socket.reply(message, 'error', { reason: `InvalidEvent: ${eventProblem}` });
    return;
  }
  const binary = payload instanceof Uint8Array ? Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength) : null;
  const size = binary ? binary.length : Buffer.byteLength(JSON.stringify(payload));
  if (size > deps.config.limits.maxPayloadBytes) {
    if (ack) socket.reply(message, 'error', PushError.payloadSizeExceeded);
    return;
  }
  if (!(await mayWrite(deps, channel.record, channel.identity, channel.policyGrants, 'broadcast'))) {
    deps.logger.info(
      { code: LogCode.broadcastNonMemberDropped, channel: channel.record.slug, userId: channel.identity.userId },
      'dropped a broadcast to a private channel from a client neither a member nor granted writes by the policies',
    );
    return;
  }
  // Not awaited: the next message of this topic is handled as soon as this one is queued. The feed
  // stores a channel's broadcasts in the order they were sent, those queued meanwhile in one commit.
  void deps.broadcasts
    .send({
      channelId: channel.channelId,
      event,
      payload,
      binary,
      sender: channel.identity.userId,
      ...(channel.options.self ? {} : { exclude: channel }),
    })
    .then(
      ({ offset }) => {
        if (ack) socket.reply(message, 'ok', { offset } satisfies BroadcastAck);
      },
      (error: unknown) => {
        if (isPayloadOverLimit(error)) {
          if (ack) socket.reply(message, 'error', PushError.payloadSizeExceeded);
          return;
        }
        if (deps.shuttingDown) {
          // Refused by a shutdown that began after it was checked: the client sends it again to the next server.
          if (ack) socket.reply(message, 'error', { reason: JoinError.restarting });
          return;
        }
        deps.logger.error({ code: LogCode.broadcastStoreFailed, err: error, channel: channel.record.slug }, 'storing a broadcast failed');
        if (ack) socket.reply(message, 'error', { reason: JoinError.unableToConnect });
      },
    );
}
