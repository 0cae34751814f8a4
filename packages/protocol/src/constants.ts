// The wire vocabulary of the Supabase Realtime (Phoenix channels) protocol: event names, versions, close codes.

/** Phoenix channel control events. */
export const ChannelEvent = {
  join: 'phx_join',
  reply: 'phx_reply',
  leave: 'phx_leave',
  close: 'phx_close',
  error: 'phx_error',
  heartbeat: 'heartbeat',
  accessToken: 'access_token',
} as const;

/** Feature events carried on a joined channel. */
export const FeatureEvent = {
  broadcast: 'broadcast',
  presence: 'presence',
  presenceState: 'presence_state',
  presenceDiff: 'presence_diff',
  postgresChanges: 'postgres_changes',
  system: 'system',
} as const;

/** The topic heartbeats are sent on. */
export const PHOENIX_TOPIC = 'phoenix';

/** Every channel topic starts with this prefix; the rest is the channel name (the sub-topic). */
export const TOPIC_PREFIX = 'realtime:';

/** Serializer versions a client may ask for with the `vsn` query parameter. */
export const PROTOCOL_VERSIONS = ['1.0.0', '2.0.0'] as const;
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];

/** Status values of a `phx_reply`. */
export const ReplyStatus = { ok: 'ok', error: 'error' } as const;

/**
 * WebSocket close codes the server uses. Every close makes realtime-js reconnect after its backoff.
 * - 1000 normal: the client asked to close.
 * - 1001 going away: the server is shutting down.
 * - 1008 policy violation: too many joins per second.
 * - 4000 idle: nothing received (not even a heartbeat) within the idle timeout.
 * - 4008 slow consumer: the socket's send buffer exceeded its limit.
 */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  idleTimeout: 4000,
  slowConsumer: 4008,
} as const;

/** Binary frame kinds of the V2 serializer. */
export const BinaryKind = {
  /** Client to server: a broadcast push. */
  userBroadcastPush: 3,
  /** Server to client: a broadcast. The only binary kind realtime-js can decode. */
  userBroadcast: 4,
} as const;

/** Payload encodings inside binary broadcast frames. */
export const PayloadEncoding = { binary: 0, json: 1 } as const;
