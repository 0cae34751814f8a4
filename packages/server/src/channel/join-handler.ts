// phx_join and phx_leave: a join's checks in the order hosted Supabase Realtime makes them, the reply, then delivery starts.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CloseCode, FeatureEvent, JoinError, subTopicOf, type JoinReply, type Message, type SystemPayload } from '@nself/protocol';
import { stringifyExact } from '@nself/db';
import { assertNotExpired, type Identity } from '../auth/auth.js';
import { resolveChannel, type ChannelLookupDeps } from './channel-access.js';
import { JoinedChannel, type JoinedChannelDeps, type MessageSocket } from './joined-channel.js';
import type { Authenticator } from '../auth/auth.js';
import type { PostgresChangesExtension } from '../table-changes/postgres-changes.js';
import { streamStart, type JoinHistory, type JoinHistoryReads } from './join-history.js';
import { readJoinPayload, type JoinRequest } from './join-payload.js';
import { isRefusal, tokenJoinReason } from '../refusal.js';
import { SharedFrames, sharedHead } from '../shared-frames.js';
import { LogCode } from '../log-codes.js';

/** What a join reads, checks and starts: besides the channel lookup and the joined channel's own parts, the token check and the table changes. */
export interface JoinDeps extends ChannelLookupDeps, JoinedChannelDeps {
  readonly auth: Pick<Authenticator, 'verify'>;
  readonly joinHistory: Pick<JoinHistoryReads, 'read'>;
  /** Delivers table changes; when undefined, joins with bindings are refused. */
  readonly postgresChanges: PostgresChangesExtension | undefined;
  /** Set once shutdown begins: new joins are refused. */
  readonly shuttingDown: boolean;
}

/** Handles a `phx_join`: replies ok and starts delivery, or replies with the reason it was refused. */
export async function handleJoin(deps: JoinDeps, socket: MessageSocket, message: Message): Promise<void> {
  // Access changes notified while the join checks access are re-checked once the channel is registered.
  const accessSince = deps.access.beginJoin();
  try {
    await join(deps, socket, message, accessSince);
  } finally {
    deps.access.endJoin();
  }
}

async function join(deps: JoinDeps, socket: MessageSocket, message: Message, accessSince: number): Promise<void> {
  const arrivedAt = performance.now();
  const refuse = (reason: string) => refuseJoin(deps, socket, message, reason);
  const subTopic = subTopicOf(message.topic);
  if (subTopic === undefined) return refuse(JoinError.unmatchedTopic);
  if (subTopic.trim() === '') return refuse(JoinError.topicNameRequired);
  if (deps.shuttingDown) return refuse(JoinError.restarting);
  if (!socket.joins.take()) {
    refuse(JoinError.tooManyJoins);
    socket.close(CloseCode.policyViolation, 'too many joins per second');
    return;
  }
  socket.channels.get(message.topic)?.close();
  const releaseChannel = socket.reserveChannel();
  if (!releaseChannel) return refuse(JoinError.tooManyChannels);
  try {
    await joinChannel(deps, socket, message, subTopic, releaseChannel, arrivedAt, accessSince);
  } finally {
    releaseChannel();
  }
}

/** Replies to a join with the reason it was refused, and logs it (join.refused). */
function refuseJoin(deps: Pick<JoinDeps, 'logger'>, socket: MessageSocket, message: Message, reason: string): void {
  deps.logger.info({ code: LogCode.joinRefused, topic: message.topic, reason, connectionId: socket.info.id, userId: socket.info.identity.userId }, `join refused: ${reason}`);
  socket.reply(message, 'error', { reason });
}

/**
 * The checks after the channel limit, the reply, and the start of delivery; `releaseChannel` gives back
 * the reserved place once the channel counts, and `accessSince` marks the access changes to re-check.
 */
async function joinChannel(
  deps: JoinDeps,
  socket: MessageSocket,
  message: Message,
  subTopic: string,
  releaseChannel: () => void,
  arrivedAt: number,
  accessSince: number,
): Promise<void> {
  const refuse = (reason: string) => refuseJoin(deps, socket, message, reason);

  let request: JoinRequest;
  try {
    request = readJoinPayload(message.payload);
  } catch (error) {
    if (isRefusal(error, 'InvalidJoinPayload', 'InvalidBinding', 'InvalidReplay')) return refuse(error.message);
    throw error;
  }
  let identity: Identity;
  try {
    identity = request.token === undefined ? socket.info.identity : await deps.auth.verify(request.token);
    assertNotExpired(identity);
  } catch (error) {
    if (isRefusal(error, 'InvalidToken')) return refuse(tokenJoinReason(error));
    throw error;
  }
  if (request.bindings.length > 0 && !deps.postgresChanges) return refuse(JoinError.postgresChangesUnavailable);

  let lookup;
  try {
    lookup = await resolveChannel(deps, subTopic, identity, request.private);
  } catch (error) {
    deps.logger.error({ code: LogCode.joinDatabaseFailed, err: error, topic: message.topic }, 'join failed on the database');
    return refuse(JoinError.unableToConnect);
  }
  if (lookup.kind === 'invalid') return refuse(JoinError.invalidTopic(subTopic));
  if (lookup.kind === 'unauthorized') return refuse(JoinError.unauthorized(subTopic));
  if (socket.channels.has(message.topic) || deps.shuttingDown) return refuse(JoinError.unknown);

  const channel = new JoinedChannel(
    deps,
    socket,
    message.topic,
    subTopic,
    message.joinRef ?? message.ref,
    lookup.channel,
    {
      self: request.self,
      ack: request.ack,
      presence: request.presenceEnabled || lookup.channel.type === 'presence',
      private: request.private,
      presenceKey: request.presenceKey || randomUUID(),
    },
    identity,
    lookup.policyGrants,
  );
  socket.addChannel(channel);
  releaseChannel();
  const withHistory = request.resumeAfter !== undefined || request.replay !== undefined;
  const liveAfter = channel.start(withHistory, accessSince);

  let history: JoinHistory | undefined;
  if (withHistory) {
    try {
      history = await deps.joinHistory.read(lookup.channel.id, request);
    } catch (error) {
      deps.logger.error({ code: LogCode.historyReadFailed, err: error, topic: message.topic }, 'reading messages to resume or replay failed');
      channel.dispose({ endPresence: true });
      return refuse(JoinError.replayFailed);
    }
  }
  const postgresChanges = request.bindings.map(({ id, ...binding }) => ({ ...binding, id }));
  const reply: JoinReply = { postgres_changes: postgresChanges, broadcast: { latest_offset: liveAfter }, ...history?.reply };
  socket.reply(message, 'ok', reply);
  deps.metrics.joinDuration.observe({ history: history ? 'read' : 'none' }, (performance.now() - arrivedAt) / 1000);
  if (history) {
    if (history.notice) {
      const notice = { extension: 'broadcast', status: 'error', channel: subTopic, message: history.notice } satisfies SystemPayload;
      channel.push(FeatureEvent.system, notice, channel.joinRef);
    }
    // Not awaited: the stream goes at the client's pace while the join's other work and the topic's next messages go on.
    channel.streamHistory(streamStart(history, liveAfter), liveAfter).catch((error: unknown) => {
      deps.logger.error({ code: LogCode.historyStreamFailed, err: error, topic: message.topic }, 'streaming messages to resume or replay failed');
      channel.shutdown(JoinError.replayFailed);
    });
  }
  if (request.bindings.length > 0 && deps.postgresChanges) await subscribeChanges(deps, socket, channel, request);
}

/** Handles a `phx_leave`: ok reply, then `phx_close`. */
export function handleLeave(socket: MessageSocket, message: Message): void {
  const channel = socket.channels.get(message.topic);
  socket.reply(message, 'ok', {});
  channel?.close();
}

async function subscribeChanges(deps: JoinDeps, socket: MessageSocket, channel: JoinedChannel, request: JoinRequest): Promise<void> {
  const head = sharedHead(socket.info.version, channel.topic, FeatureEvent.postgresChanges, null);
  try {
    const subscription = await deps.postgresChanges?.subscribe({
      subTopic: channel.subTopic,
      bindings: request.bindings,
      identity: channel.identity,
      ...(request.changesResumeAfter !== undefined ? { resumeAfter: request.changesResumeAfter } : {}),
      // Rows may hold numbers a JavaScript number cannot (int8 beyond 2^53): their digits go out as read.
      push: (change, frames) => socket.sendShared(frames ?? new SharedFrames(), head, () => change, stringifyExact),
      system: (status, text, extra) => channel.system('postgres_changes', status, text, extra),
    });
    await channel.attachChanges(subscription);
  } catch (error) {
    deps.logger.error({ code: LogCode.postgresChangesJoinFailed, err: error, topic: channel.topic }, 'postgres_changes subscription failed');
    channel.system('postgres_changes', 'error', `Unable to subscribe to changes with given parameters: ${error instanceof Error ? error.message : String(error)}`);
  }
}
