// The exact error texts clients see, so replies match the hosted Supabase Realtime.

/** Reasons sent in a join's error reply: `{"status":"error","response":{"reason": …}}`. */
export const JoinError = {
  topicNameRequired: 'TopicNameRequired: You must provide a topic name',
  unauthorized: (subTopic: string) => `Unauthorized: You do not have permissions to read from this Channel topic: ${subTopic}`,
  tooManyChannels: 'ChannelRateLimitReached: Too many channels',
  tooManyJoins: 'ClientJoinRateLimitReached: Too many joins per second',
  tokenExpired: (secondsAgo: number) => `InvalidJWTToken: Token has expired ${secondsAgo} seconds ago`,
  missingClaims: 'InvalidJWTToken: Fields `role` and `exp` are required in JWT',
  malformedJwt: 'MalformedJWT: The token provided is not a valid JWT',
  signatureError: 'JwtSignatureError: Failed to validate JWT signature',
  invalidExpiration: 'InvalidJWTToken: Token expiration time is invalid',
  restarting: 'RealtimeRestarting: Realtime is restarting, please standby',
  unableToConnect: 'UnableToConnectToProject: Realtime was unable to connect to the project database',
  replayInvalid: 'UnableToReplayMessages: Replay params are not valid',
  replayFailed: 'UnableToReplayMessages: Realtime was unable to replay messages',
  unknown: 'Unknown Error on Channel',
  unmatchedTopic: 'unmatched topic',
  invalidTopic: (subTopic: string) => `InvalidTopicName: Channel name "${subTopic}" must have 1 to 200 characters with at least one letter or digit`,
  postgresChangesUnavailable: 'RealtimeDisabledForConfiguration: postgres_changes subscriptions are not available on this server',
} as const;

/** Messages of `system` events that shut a channel down (sent with status "error", then `phx_close`). */
export const SystemMessage = {
  tokenExpired: (secondsAgo: number) => `Token has expired ${secondsAgo} seconds ago`,
  missingClaims: 'Fields `role` and `exp` are required in JWT',
  malformedJwt: 'The token provided is not a valid JWT',
  signatureError: 'Failed to validate JWT signature',
  permissionRevoked: (subTopic: string) => `You no longer have permission to read from this Channel topic: ${subTopic}`,
  /** Not a hosted Supabase text (its channels are not stored): the channel was deleted while joined. */
  channelDeleted: (subTopic: string) => `Channel was deleted: ${subTopic}`,
  tooManyMessages: 'Too many messages per second',
  trackSizeExceeded: 'Track message size exceeded',
  subscribedToPostgres: 'Subscribed to PostgreSQL',
} as const;

/** Error responses to pushes on a joined channel. */
export const PushError = {
  /** Ack'd broadcast over the payload limit: the response is this bare string. */
  payloadSizeExceeded: 'payload_size_exceeded',
  presencePayloadNotMap: 'Presence track payload must be a map',
  /** Not a Supabase text (it has no cap on a channel's presence): the track would make the channel's presence_state too large. */
  presenceStateFull: (maxBytes: number) => `PresenceStateFull: the channel's presence is over REALTIME_MAX_PRESENCE_STATE_BYTES (${maxBytes} bytes); untrack or track less`,
} as const;

/** Errors of the HTTP upgrade, sent as `{"error": …}` with the given status. */
export const ConnectError = {
  apiKeyMissing: { status: 401, error: 'API key is missing' },
  tokenExpired: { status: 401, error: 'Token has expired' },
  missingClaims: { status: 401, error: 'Fields `role` and `exp` are required in JWT' },
  malformedJwt: { status: 401, error: 'The token provided is not a valid JWT' },
  signatureError: { status: 401, error: 'Failed to validate JWT signature' },
  /** Not a hosted Supabase text: a web page whose `Origin` may not connect (REST requests get the same 403). */
  originNotAllowed: (origin: string, developmentMode: boolean) => ({
    status: 403,
    error: developmentMode
      ? `Origin ${origin} is not allowed: without a JWT secret only pages served from localhost may connect; ` +
        'to allow it, add it to REALTIME_ALLOWED_ORIGINS (comma-separated origins, or * for any)'
      : `Origin ${origin} is not allowed: it is not in REALTIME_ALLOWED_ORIGINS`,
  }),
} as const;

/** Error bodies of the REST endpoints. */
export const RestError = {
  unauthorized: { status: 401, body: { message: 'Unauthorized' } },
  unsupportedMediaType: {
    status: 415,
    body: { error: 'Unsupported Media Type. Use application/json or application/octet-stream' },
  },
  payloadTooLarge: { status: 422, body: { errors: { payload: ['Payload size exceeds tenant limit'] } } },
} as const;
