// The server's configuration, assembled from the settings @nself/db declares, with the checks that span several settings.
import type { GraphQLLimits } from '@nself/graphql';
import { logFilePath, prettyLogs, readJwtKeys, readSetting, UserError, type CaptureChoice, type GraphQLLiveQueryTrigger, type LogLevel } from '@nself/db';

/** Everything the server needs to run; `loadConfig` builds it from the environment. */
export interface ServerConfig {
  /** Port to listen on; 0 picks a free one. @default 3100 */
  readonly port: number;
  /** Address to bind. @default "0.0.0.0" with a JWT secret, "127.0.0.1" in development mode */
  readonly host: string;
  /** PostgreSQL connection string; undefined means the embedded PostgreSQL. */
  readonly databaseUrl: string | undefined;
  /** HS256/384/512 secret for client JWTs. With no secret, public key or JWKS: development mode (anonymous allowed). */
  readonly jwtSecret: string | undefined;
  /** Public key for RS*, PS*, ES* and EdDSA client JWTs: PEM, a JWK or a JWKS, as text. */
  readonly jwtPublicKey: string | undefined;
  /** A JWKS for client JWTs: an http(s) URL (fetched and cached) or a file. */
  readonly jwksUrl: string | undefined;
  /** Where structured logs are appended, besides stdout. */
  readonly logFile: string;
  readonly logLevel: LogLevel;
  /** Whether logs also go to stdout. @default true */
  readonly logToStdout: boolean;
  /** Whether stdout gets readable lines rather than JSON (REALTIME_LOG_FORMAT; `auto`: when stdout is a terminal). */
  readonly logPretty: boolean;
  readonly limits: Limits;
  /** How often live connections refresh their last-seen time, in ms. @default 15000 */
  readonly touchIntervalMs: number;
  /** A connection silent in the database for longer than this is stale and its presence swept, in seconds. @default 300 */
  readonly staleAfterSeconds: number;
  /** How often the sweeper runs, in ms. @default 30000 */
  readonly sweepIntervalMs: number;
  /** Most messages one `config.broadcast.replay` join receives (Supabase's cap). @default 25 */
  readonly replayMax: number;
  /** Hours each channel's messages and the table change log are kept, unless a channel's metadata sets `retention_hours`. @default 24 */
  readonly retentionHours: number;
  /** How often the server trims logs past their retention, in ms. @default 300000 */
  readonly retentionIntervalMs: number;
  /**
   * The notifications of broadcasts this server stores on public channels carry the messages, signed
   * with a key only the server's role can read, and the broadcast feed delivers those whose signature
   * verifies without reading them back (docs/deployment.md). @default true
   */
  readonly broadcastNotifyPayloads: boolean;
  /** Notify-mode writers position and announce their changes at commit while the server runs (docs/capture.md). @default true */
  readonly changesAtCommit: boolean;
  /** How table changes are captured: from the write-ahead log where possible (`auto`), only from it (`wal`), or by triggers (`trigger`). @default "auto" */
  readonly capture: CaptureChoice;
  /**
   * The database role that clients without a token act as for table changes in development mode, when
   * the database has it (Supabase's `anon`); null: such clients see every table change. @default "anon"
   */
  readonly anonymousRole: string | null;
  /**
   * Origins of web pages allowed to connect besides those development mode admits (pages on localhost);
   * `*` allows any. With a JWT secret and none listed, every origin may connect. @default []
   */
  readonly allowedOrigins: readonly string[];
  /** Bounds on GraphQL operations, statements, sockets and batches (docs/security.md). */
  readonly graphqlLimits: GraphQLLimits;
  /** The schemas whose relations GraphQL exposes. @default ["public"] */
  readonly graphqlSchemas: readonly string[];
  /** Hasura's admin secret for GraphQL (`x-hasura-admin-secret`); undefined: none is accepted. */
  readonly graphqlAdminSecret: string | undefined;
  /** The role GraphQL clients without a token act as; undefined: they are refused (except in development mode). */
  readonly graphqlUnauthorizedRole: string | undefined;
  /** What re-runs a GraphQL live query: committed changes to the tables it reads, or a timer once a second (Hasura's way). @default "changes" */
  readonly graphqlLiveQueries: GraphQLLiveQueryTrigger;
  /** A replication slot no consumer has read for longer than this is reported as an error, about once a minute, in seconds. @default 300 */
  readonly slotStaleSeconds: number;
}

/** Limits per connection and per message; each has a safe default and an environment variable. */
export interface Limits {
  /** WebSocket connections this process holds, both protocols counted together (one more upgrade is refused with 503). @default 100000 */
  readonly maxConnections: number;
  /** Largest WebSocket frame accepted, in bytes (larger closes with 1009). @default 1048576 */
  readonly maxFrameBytes: number;
  /** Largest broadcast payload, in bytes. @default 262144 */
  readonly maxPayloadBytes: number;
  /** Largest presence payload one track holds (every joiner receives all of them), in bytes. @default 16384 */
  readonly maxPresenceBytes: number;
  /** Largest presence one channel holds, the sum of its presences' JSON (its presence_state); always below `maxSendBufferBytes`. @default 1048576, or half the send buffer when that is less */
  readonly maxPresenceStateBytes: number;
  /** Channels one connection may join. @default 100 */
  readonly maxChannelsPerConnection: number;
  /** Joins per second one connection may make. @default 100 */
  readonly maxJoinsPerSecond: number;
  /** Messages per second one connection may send. @default 100 */
  readonly maxMessagesPerSecond: number;
  /** Heartbeats per second one connection may send (more closes it with 1008). @default 10 */
  readonly maxHeartbeatsPerSecond: number;
  /** Messages of one connection waiting to be handled; beyond it the server stops reading the connection until half are done. @default 256 */
  readonly maxMessagesInFlight: number;
  /** Deepest nesting of arrays and objects in a client's JSON (a frame or a REST body); deeper is refused. @default 100 */
  readonly maxJsonDepth: number;
  /** Bytes queued for a socket before it is closed as a slow reader. @default 4194304 */
  readonly maxSendBufferBytes: number;
  /** A socket that sends nothing (not even a heartbeat) for this long is closed, in ms. @default 60000 */
  readonly idleTimeoutMs: number;
  /** Messages one `POST /api/broadcast` may carry. @default 100 */
  readonly maxBatchMessages: number;
  /** REST broadcast messages per second one caller (token user, or address when anonymous) may send. @default 100 */
  readonly maxRestMessagesPerSecond: number;
  /** Channels that do not exist yet one REST broadcast request may create. @default 10 */
  readonly maxRestNewChannels: number;
  /** Most values one `in.(…)` of a postgres_changes filter may list (Supabase's cap). @default 100 */
  readonly maxFilterValues: number;
  /** Longest postgres_changes filter, in characters. @default 4096 */
  readonly maxFilterLength: number;
  /** Most postgres_changes bindings one join may carry. @default 100 */
  readonly maxBindingsPerJoin: number;
  /** Time one statement judging postgres_changes filters may take before its filters fail for this batch, in ms. @default 1000 */
  readonly filterBudgetMs: number;
}

/** Shortest HS256 secret accepted in production, in bytes (RFC 7518 §3.2: at least the hash's size). */
export const MIN_SECRET_BYTES = 32;

/** Reads the configuration from `env` (settings are declared in @nself/db); throws a UserError naming the variable that is wrong. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const { secret: jwtSecret, publicKey: jwtPublicKey, jwksUrl } = readJwtKeys(env);
  const verifies = Boolean(jwtSecret || jwtPublicKey || jwksUrl);
  if (!verifies && readSetting(env, 'NODE_ENV') === 'production') {
    throw new UserError(
      'NODE_ENV=production needs a way to verify client tokens: set REALTIME_JWT_SECRET, REALTIME_JWT_PUBLIC_KEY or REALTIME_JWKS_URL (or HASURA_GRAPHQL_JWT_SECRET)',
    );
  }
  checkSecretStrength(jwtSecret, env);
  const maxSendBufferBytes = readSetting(env, 'REALTIME_MAX_SEND_BUFFER_BYTES');
  const config: ServerConfig = {
    port: readSetting(env, 'REALTIME_PORT'),
    host: readSetting(env, 'REALTIME_HOST') ?? defaultHost(verifies),
    databaseUrl: readSetting(env, 'DATABASE_URL'),
    jwtSecret,
    jwtPublicKey,
    jwksUrl,
    logFile: logFilePath(env),
    logLevel: readSetting(env, 'REALTIME_LOG_LEVEL'),
    logToStdout: true,
    logPretty: prettyLogs(env, process.stdout),
    touchIntervalMs: readSetting(env, 'REALTIME_TOUCH_INTERVAL_MS'),
    staleAfterSeconds: readSetting(env, 'REALTIME_STALE_AFTER_SECONDS'),
    sweepIntervalMs: readSetting(env, 'REALTIME_SWEEP_INTERVAL_MS'),
    replayMax: readSetting(env, 'REALTIME_REPLAY_MAX'),
    retentionHours: readSetting(env, 'REALTIME_RETENTION_HOURS'),
    retentionIntervalMs: readSetting(env, 'REALTIME_RETENTION_INTERVAL_MS'),
    broadcastNotifyPayloads: readSetting(env, 'REALTIME_BROADCAST_NOTIFY_PAYLOADS'),
    changesAtCommit: readSetting(env, 'REALTIME_CHANGES_AT_COMMIT'),
    capture: readSetting(env, 'REALTIME_CAPTURE'),
    anonymousRole: readSetting(env, 'REALTIME_ANONYMOUS_ROLE'),
    allowedOrigins: readSetting(env, 'REALTIME_ALLOWED_ORIGINS'),
    slotStaleSeconds: readSetting(env, 'REALTIME_SLOT_STALE_SECONDS'),
    graphqlSchemas: readSetting(env, 'REALTIME_GRAPHQL_SCHEMAS'),
    graphqlLimits: {
      maxTokens: readSetting(env, 'REALTIME_GRAPHQL_MAX_TOKENS'),
      maxDepth: readSetting(env, 'REALTIME_GRAPHQL_MAX_DEPTH'),
      maxRootFields: readSetting(env, 'REALTIME_GRAPHQL_MAX_ROOT_FIELDS'),
      maxFields: readSetting(env, 'REALTIME_GRAPHQL_MAX_FIELDS'),
      maxRows: readSetting(env, 'REALTIME_GRAPHQL_MAX_ROWS'),
      statementTimeoutMs: readSetting(env, 'REALTIME_GRAPHQL_STATEMENT_TIMEOUT_MS'),
      maxBatch: readSetting(env, 'REALTIME_GRAPHQL_MAX_BATCH'),
      maxOperationsPerConnection: readSetting(env, 'REALTIME_GRAPHQL_MAX_OPERATIONS_PER_CONNECTION'),
      maxOperationsPerSecond: readSetting(env, 'REALTIME_GRAPHQL_MAX_OPERATIONS_PER_SECOND'),
      maxResultRows: readSetting(env, 'REALTIME_GRAPHQL_MAX_RESULT_ROWS'),
      maxResultBytes: readSetting(env, 'REALTIME_GRAPHQL_MAX_RESULT_BYTES'),
      maxRequestsPerSecond: readSetting(env, 'REALTIME_GRAPHQL_MAX_REQUESTS_PER_SECOND'),
      maxStreamBacklog: readSetting(env, 'REALTIME_GRAPHQL_MAX_STREAM_BACKLOG'),
    },
    graphqlAdminSecret: readSetting(env, 'HASURA_GRAPHQL_ADMIN_SECRET'),
    graphqlUnauthorizedRole: readSetting(env, 'HASURA_GRAPHQL_UNAUTHORIZED_ROLE'),
    graphqlLiveQueries: readSetting(env, 'REALTIME_GRAPHQL_LIVE_QUERIES'),
    limits: {
      maxConnections: readSetting(env, 'REALTIME_MAX_CONNECTIONS'),
      maxFrameBytes: readSetting(env, 'REALTIME_MAX_FRAME_BYTES'),
      maxPayloadBytes: readSetting(env, 'REALTIME_MAX_PAYLOAD_BYTES'),
      maxPresenceBytes: readSetting(env, 'REALTIME_MAX_PRESENCE_BYTES'),
      maxPresenceStateBytes: readSetting(env, 'REALTIME_MAX_PRESENCE_STATE_BYTES') ?? defaultPresenceStateBytes(maxSendBufferBytes),
      maxChannelsPerConnection: readSetting(env, 'REALTIME_MAX_CHANNELS_PER_CONNECTION'),
      maxJoinsPerSecond: readSetting(env, 'REALTIME_MAX_JOINS_PER_SECOND'),
      maxMessagesPerSecond: readSetting(env, 'REALTIME_MAX_MESSAGES_PER_SECOND'),
      maxHeartbeatsPerSecond: readSetting(env, 'REALTIME_MAX_HEARTBEATS_PER_SECOND'),
      maxMessagesInFlight: readSetting(env, 'REALTIME_MAX_MESSAGES_IN_FLIGHT'),
      maxJsonDepth: readSetting(env, 'REALTIME_MAX_JSON_DEPTH'),
      maxSendBufferBytes,
      idleTimeoutMs: readSetting(env, 'REALTIME_IDLE_TIMEOUT_MS'),
      maxBatchMessages: readSetting(env, 'REALTIME_MAX_BATCH_MESSAGES'),
      maxRestMessagesPerSecond: readSetting(env, 'REALTIME_MAX_REST_MESSAGES_PER_SECOND'),
      maxRestNewChannels: readSetting(env, 'REALTIME_MAX_REST_NEW_CHANNELS'),
      maxFilterValues: readSetting(env, 'REALTIME_MAX_FILTER_VALUES'),
      maxFilterLength: readSetting(env, 'REALTIME_MAX_FILTER_LENGTH'),
      maxBindingsPerJoin: readSetting(env, 'REALTIME_MAX_BINDINGS_PER_JOIN'),
      filterBudgetMs: readSetting(env, 'REALTIME_FILTER_BUDGET_MS'),
    },
  };
  checkPresenceStateLimit(config.limits);
  return config;
}

/** The presence a channel holds when REALTIME_MAX_PRESENCE_STATE_BYTES is not set: 1 MiB, or half the send buffer when that is less. */
export function defaultPresenceStateBytes(maxSendBufferBytes: number): number {
  return Math.min(1_048_576, Math.floor(maxSendBufferBytes / 2));
}

/**
 * REALTIME_MAX_PRESENCE_STATE_BYTES must be below REALTIME_MAX_SEND_BUFFER_BYTES: every client joining
 * with presence receives the channel's whole presence_state, and a larger one closes it as a slow reader.
 */
export function checkPresenceStateLimit(limits: Pick<Limits, 'maxPresenceStateBytes' | 'maxSendBufferBytes'>): void {
  if (limits.maxPresenceStateBytes < limits.maxSendBufferBytes) return;
  throw new UserError(
    `REALTIME_MAX_PRESENCE_STATE_BYTES (${limits.maxPresenceStateBytes}) must be below REALTIME_MAX_SEND_BUFFER_BYTES (${limits.maxSendBufferBytes}): ` +
      'every joiner receives the whole presence_state, and a larger one closes it as a slow reader',
  );
}

/**
 * The address bound when REALTIME_HOST is not set: every interface once clients must bring a valid
 * token, only the loopback interface in development mode (where anyone who can connect is let in).
 */
export function defaultHost(verifiesTokens: boolean): string {
  return verifiesTokens ? '0.0.0.0' : '127.0.0.1';
}

/** Whether `config` verifies client tokens (a secret, a public key or a JWKS), so that development mode is off. */
export function verifiesTokens(config: Pick<ServerConfig, 'jwtSecret' | 'jwtPublicKey' | 'jwksUrl'>): boolean {
  return Boolean(config.jwtSecret || config.jwtPublicKey || config.jwksUrl);
}

/**
 * Refuses, under NODE_ENV=production, an HS256 secret shorter than MIN_SECRET_BYTES: such a secret
 * can be guessed offline from any one token. Elsewhere a short secret is allowed (`secretWarning` says why not).
 */
export function checkSecretStrength(jwtSecret: string | undefined, env: NodeJS.ProcessEnv): void {
  if (jwtSecret === undefined || readSetting(env, 'NODE_ENV') !== 'production' || Buffer.byteLength(jwtSecret) >= MIN_SECRET_BYTES) return;
  throw new UserError(
    `the JWT secret is ${Buffer.byteLength(jwtSecret)} bytes; NODE_ENV=production needs at least ${MIN_SECRET_BYTES} random bytes ` +
      '(make one with `openssl rand -base64 32` and set it as REALTIME_JWT_SECRET and in your auth service)',
  );
}

/** The warning to log at start for a JWT secret shorter than MIN_SECRET_BYTES; undefined when it is long enough. */
export function secretWarning(jwtSecret: string | undefined): string | undefined {
  if (jwtSecret === undefined || Buffer.byteLength(jwtSecret) >= MIN_SECRET_BYTES) return undefined;
  return (
    `WEAK JWT SECRET: it is ${Buffer.byteLength(jwtSecret)} bytes, and anyone holding one token can guess a secret that short and sign their own. ` +
    `Use at least ${MIN_SECRET_BYTES} random bytes (\`openssl rand -base64 32\`); NODE_ENV=production refuses a shorter one.`
  );
}
