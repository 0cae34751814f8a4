// Client presence pushes: track (status online, away or offline; online by default) and untrack.
import { isJsonObject, JoinError, PushError, SystemMessage, type Message } from '@nself/protocol';
import { endSessions, PRESENCE_STATUSES, trackSession } from '@nself/db';
import { mayWrite, type AccessCheckDeps } from './channel-access.js';
import type { JoinedChannel, MessageSocket } from './joined-channel.js';
import type { Authenticator } from '../auth/auth.js';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { PresenceFeed } from '../presence/presence-feed.js';
import { LogCode } from '../log-codes.js';

/** What a presence push is checked against and stored in. */
export interface PresenceHandlerDeps extends AccessCheckDeps {
  readonly config: Pick<ServerConfig, 'limits'>;
  readonly logger: Logger;
  readonly presence: Pick<PresenceFeed, 'admitTrack'>;
  readonly auth: Pick<Authenticator, 'developmentMode'>;
  /** Identifies this process in realtime.presence_sessions. */
  readonly serverId: string;
}

/**
 * Tracks or untracks this connection's presence in the channel; a track that would make the channel's
 * presence larger than `maxPresenceStateBytes` is refused and stores nothing. Viewers see the tracked payload under
 * the join's presence key; the stored presence of the token's user (see `storedUserOf`) takes it as
 * metadata, and its `status`, when one of online, away or offline, as status.
 */
export async function handlePresence(deps: PresenceHandlerDeps, socket: MessageSocket, channel: JoinedChannel, message: Message): Promise<void> {
  if (!socket.messages.take()) return channel.shutdown(SystemMessage.tooManyMessages);
  const body = isJsonObject(message.payload) ? message.payload : {};
  const event = typeof body['event'] === 'string' ? body['event'].toLowerCase() : '';
  if (event === 'untrack') {
    if (channel.tracked && !(await stored(deps, socket, message, () => endSessions(deps.pool, [socket.id], channel.channelId)))) return;
    channel.setTracked(false);
    return socket.reply(message, 'ok', {});
  }
  if (event !== 'track') return socket.reply(message, 'error', { reason: `presence event must be "track" or "untrack"` });
  const payload = body['payload'] ?? {};
  if (!isJsonObject(payload)) return socket.reply(message, 'error', { reason: PushError.presencePayloadNotMap });
  const bytes = Buffer.byteLength(JSON.stringify(payload));
  if (bytes > deps.config.limits.maxPresenceBytes) return channel.shutdown(SystemMessage.trackSizeExceeded);
  if (!(await mayWrite(deps, channel.record, channel.identity, channel.policyGrants, 'presence'))) return socket.reply(message, 'error', {});
  const requested = payload['status'];
  const status = typeof requested === 'string' && (PRESENCE_STATUSES as readonly string[]).includes(requested) ? requested : 'online';
  const { maxPresenceStateBytes } = deps.config.limits;
  let admitted = false;
  const tracked = await stored(deps, socket, message, async () => {
    admitted = await deps.presence.admitTrack(channel.channelId, socket.id, bytes + META_OVERHEAD_BYTES, maxPresenceStateBytes, () =>
      trackSession(deps.pool, {
        connectionId: socket.id,
        channelId: channel.channelId,
        userId: storedUserOf(deps, channel),
        presenceKey: channel.options.presenceKey,
        status,
        metadata: payload,
        serverId: deps.serverId,
      }),
    );
  });
  if (!tracked) return;
  if (!admitted) return socket.reply(message, 'error', { reason: PushError.presenceStateFull(maxPresenceStateBytes) });
  channel.setTracked(true);
  socket.reply(message, 'ok', {});
}

/** What a meta adds to its payload's JSON: the `phx_ref` (and `phx_ref_prev`) viewers receive with it. */
const META_OVERHEAD_BYTES = 64;

/**
 * Whose stored presence a track writes: the token's user. A token without a user writes none, except
 * in development mode, where no token is verified and any client may claim any user anyway: there
 * the presence key stands for the user, so `presence online` lists anonymous clients by their key.
 */
function storedUserOf(deps: PresenceHandlerDeps, channel: JoinedChannel): string | null {
  return channel.identity.userId ?? (deps.auth.developmentMode ? channel.options.presenceKey : null);
}

/** Runs a presence write; when the database fails, replies with an error and returns false. */
async function stored(deps: PresenceHandlerDeps, socket: MessageSocket, message: Message, write: () => Promise<void>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    deps.logger.error({ code: LogCode.presenceStoreFailed, err: error, topic: message.topic }, 'storing presence failed');
    socket.reply(message, 'error', { reason: JoinError.unableToConnect });
    return false;
  }
}
