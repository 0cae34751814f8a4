// Server configuration from the environment, with defaults that are safe and errors that name the variable.
import path from 'node:path';
import { CAPTURE_CHOICES, configuredRetentionHours, defaultStateDir, UserError, type CaptureChoice } from '@nself/db';

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
  readonly logLevel: string;
  /** Whether logs also go to stdout. @default true */
  readonly logToStdout: boolean;
  readonly limits: Limits;
  /** How often live connections refresh their last-seen time, in ms. @default 15000 */
  readonly touchIntervalMs: number;
  /** A connection silent in the database for longer than this is stale and its presence swept, in seconds. @default 90 */
  readonly staleAfterSeconds: number;
  /** How often the sweeper runs, in ms. @default 30000 */
  readonly sweepIntervalMs: number;
  /** Most messages one `config.broadcast.replay` join receives (Supabase's cap). @default 25 */
  readonly replayMax: number;
  /** Hours each channel's messages and the table change log are kept, unless a channel's metadata sets `retention_hours`. @default 24 */
  readonly retentionHours: number;
  /** How often the server trims logs past their retention, in ms. @default 300000 */
  readonly retentionIntervalMs: number;
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
  /** A replication slot no consumer has read for longer than this is reported as an error, about once a minute, in seconds. @default 300 */
  readonly slotStaleSeconds: number;
}

/** Limits per connection and per message; each has a safe default and an environment variable. */
export interface Limits {
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

interface Variable<T> {
  readonly name: string;
  readonly fallback: T;
}

/** Reads the configuration from `env`; throws a UserError naming the variable that is wrong. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const { secret: jwtSecret, publicKey: jwtPublicKey, jwksUrl } = readJwtKeys(env);
  const verifies = Boolean(jwtSecret || jwtPublicKey || jwksUrl);
  if (!verifies && env.NODE_ENV === 'production') {
    throw new UserError(
      'NODE_ENV=production needs a way to verify client tokens: set REALTIME_JWT_SECRET, REALTIME_JWT_PUBLIC_KEY or REALTIME_JWKS_URL (or HASURA_GRAPHQL_JWT_SECRET)',
    );
  }
  checkSecretStrength(jwtSecret, env);
  const config: ServerConfig = {
    port: integer(env, { name: 'REALTIME_PORT', fallback: 3100 }, 0, 65535),
    host: env.REALTIME_HOST?.trim() || defaultHost(verifies),
    databaseUrl: env.DATABASE_URL?.trim() || undefined,
    jwtSecret,
    jwtPublicKey,
    jwksUrl,
    logFile: path.resolve(env.REALTIME_LOG_FILE?.trim() || path.join(defaultStateDir(), 'logs', 'realtime.log')),
    logLevel: logLevel(env),
    logToStdout: true,
    touchIntervalMs: integer(env, { name: 'REALTIME_TOUCH_INTERVAL_MS', fallback: 15_000 }, 100, 3_600_000),
    staleAfterSeconds: integer(env, { name: 'REALTIME_STALE_AFTER_SECONDS', fallback: 90 }, 1, 86_400),
    sweepIntervalMs: integer(env, { name: 'REALTIME_SWEEP_INTERVAL_MS', fallback: 30_000 }, 100, 3_600_000),
    replayMax: integer(env, { name: 'REALTIME_REPLAY_MAX', fallback: 25 }, 1, 100_000),
    retentionHours: configuredRetentionHours(env),
    retentionIntervalMs: integer(env, { name: 'REALTIME_RETENTION_INTERVAL_MS', fallback: 300_000 }, 100, 86_400_000),
    changesAtCommit: boolean(env, { name: 'REALTIME_CHANGES_AT_COMMIT', fallback: true }),
    capture: captureChoice(env),
    anonymousRole: env.REALTIME_ANONYMOUS_ROLE === undefined ? 'anon' : env.REALTIME_ANONYMOUS_ROLE.trim() || null,
    allowedOrigins: allowedOrigins(env),
    slotStaleSeconds: configuredSlotStaleSeconds(env),
    limits: {
      maxFrameBytes: integer(env, { name: 'REALTIME_MAX_FRAME_BYTES', fallback: 1_048_576 }, 1024, 100_000_000),
      maxPayloadBytes: configuredMaxPayloadBytes(env),
      maxPresenceBytes: integer(env, { name: 'REALTIME_MAX_PRESENCE_BYTES', fallback: 16_384 }, 16, 100_000_000),
      maxPresenceStateBytes: integer(env, { name: 'REALTIME_MAX_PRESENCE_STATE_BYTES', fallback: defaultPresenceStateBytes(sendBufferBytes(env)) }, 1024, 1_000_000_000),
      maxChannelsPerConnection: integer(env, { name: 'REALTIME_MAX_CHANNELS_PER_CONNECTION', fallback: 100 }, 1, 100_000),
      maxJoinsPerSecond: integer(env, { name: 'REALTIME_MAX_JOINS_PER_SECOND', fallback: 100 }, 1, 1_000_000),
      maxMessagesPerSecond: integer(env, { name: 'REALTIME_MAX_MESSAGES_PER_SECOND', fallback: 100 }, 1, 1_000_000),
      maxHeartbeatsPerSecond: integer(env, { name: 'REALTIME_MAX_HEARTBEATS_PER_SECOND', fallback: 10 }, 1, 1_000_000),
      maxMessagesInFlight: integer(env, { name: 'REALTIME_MAX_MESSAGES_IN_FLIGHT', fallback: 256 }, 2, 1_000_000),
      maxJsonDepth: configuredMaxJsonDepth(env),
      maxSendBufferBytes: sendBufferBytes(env),
      idleTimeoutMs: integer(env, { name: 'REALTIME_IDLE_TIMEOUT_MS', fallback: 60_000 }, 100, 3_600_000),
      maxBatchMessages: integer(env, { name: 'REALTIME_MAX_BATCH_MESSAGES', fallback: 100 }, 1, 100_000),
      maxRestMessagesPerSecond: integer(env, { name: 'REALTIME_MAX_REST_MESSAGES_PER_SECOND', fallback: 100 }, 1, 1_000_000),
      maxRestNewChannels: integer(env, { name: 'REALTIME_MAX_REST_NEW_CHANNELS', fallback: 10 }, 0, 100_000),
      maxFilterValues: integer(env, { name: 'REALTIME_MAX_FILTER_VALUES', fallback: 100 }, 1, 100_000),
      maxFilterLength: integer(env, { name: 'REALTIME_MAX_FILTER_LENGTH', fallback: 4096 }, 16, 1_000_000),
      maxBindingsPerJoin: integer(env, { name: 'REALTIME_MAX_BINDINGS_PER_JOIN', fallback: 100 }, 1, 100_000),
      filterBudgetMs: integer(env, { name: 'REALTIME_FILTER_BUDGET_MS', fallback: 1000 }, 10, 600_000),
    },
  };
  checkPresenceStateLimit(config.limits);
  return config;
}

/** REALTIME_MAX_SEND_BUFFER_BYTES: bytes queued for a socket before it is closed as a slow reader. */
function sendBufferBytes(env: NodeJS.ProcessEnv): number {
  return integer(env, { name: 'REALTIME_MAX_SEND_BUFFER_BYTES', fallback: 4_194_304 }, 1024, 1_000_000_000);
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

/** REALTIME_MAX_PAYLOAD_BYTES: the largest broadcast payload, in bytes, for the server and the CLI alike. */
export function configuredMaxPayloadBytes(env: NodeJS.ProcessEnv = process.env): number {
  return integer(env, { name: 'REALTIME_MAX_PAYLOAD_BYTES', fallback: 262_144 }, 16, 100_000_000);
}

/** REALTIME_MAX_JSON_DEPTH: the deepest nesting of client JSON, for the server and the CLI alike. */
export function configuredMaxJsonDepth(env: NodeJS.ProcessEnv = process.env): number {
  return integer(env, { name: 'REALTIME_MAX_JSON_DEPTH', fallback: 100 }, 8, 1_000);
}

/** REALTIME_SLOT_STALE_SECONDS: how long a replication slot may go unread before the server and `status` warn, for both. */
export function configuredSlotStaleSeconds(env: NodeJS.ProcessEnv = process.env): number {
  return integer(env, { name: 'REALTIME_SLOT_STALE_SECONDS', fallback: 300 }, 1, 31_536_000);
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
  if (jwtSecret === undefined || env.NODE_ENV !== 'production' || Buffer.byteLength(jwtSecret) >= MIN_SECRET_BYTES) return;
  throw new UserError(
    `the JWT secret is ${Buffer.byteLength(jwtSecret)} bytes; NODE_ENV=production needs at least ${MIN_SECRET_BYTES} random bytes ` +
    '(make one with `openssl rand -base64 32` and set it as REALTIME_JWT_SECRET and in your auth service)',
  );
}

/** The warning to log at start for a JWT secret shorter than MIN_SECRET_BYTES; undefined when it is long enough. */
export function secretWarning(jwtSecret: string | undefined): string | undefined {
  if (jwtSecret === undefined || Buffer.byteLength(jwtSecret) >= MIN_SECRET_BYTES) return undefined;
  return `WEAK JWT SECRET: it is ${Buffer.byteLength(jwtSecret)} bytes, and anyone holding one token can guess a secret that short and sign their own. ` +
    `Use at least ${MIN_SECRET_BYTES} random bytes (\`openssl rand -base64 32\`); NODE_ENV=production refuses a shorter one.`;
}

const HASURA_FORMS = '{"type":"HS256","key":"<secret>"}, {"type":"RS256","key":"<PEM public key>"} or {"jwk_url":"https://…/jwks.json"}';
const HASURA_TYPES = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA'];

/**
 * The keys client tokens are verified with: REALTIME_JWT_SECRET, REALTIME_JWT_PUBLIC_KEY and
 * REALTIME_JWKS_URL; where those are unset, Hasura's JSON HASURA_GRAPHQL_JWT_SECRET (a `key` of an
 * HS type is the secret, of another type a public key; or a `jwk_url`).
 */
function readJwtKeys(env: NodeJS.ProcessEnv): { secret: string | undefined; publicKey: string | undefined; jwksUrl: string | undefined } {
  const own = {
    secret: env.REALTIME_JWT_SECRET?.trim() || undefined,
    publicKey: env.REALTIME_JWT_PUBLIC_KEY?.trim() || undefined,
    jwksUrl: env.REALTIME_JWKS_URL?.trim() || undefined,
  };
  const hasura = env.HASURA_GRAPHQL_JWT_SECRET?.trim();
  if (own.secret || own.publicKey || own.jwksUrl || !hasura) return own;
  let parsed: unknown;
  try {
    parsed = JSON.parse(hasura);
  } catch {
    throw new UserError(`HASURA_GRAPHQL_JWT_SECRET is not JSON; expected ${HASURA_FORMS}`);
  }
  const { type, key, jwk_url: jwkUrl } = (parsed ?? {}) as { type?: unknown; key?: unknown; jwk_url?: unknown };
  if (typeof jwkUrl === 'string' && jwkUrl !== '') return { secret: undefined, publicKey: undefined, jwksUrl: jwkUrl };
  const kind = type === undefined ? 'HS256' : type;
  if (typeof kind !== 'string' || !HASURA_TYPES.includes(kind)) {
    throw new UserError(`HASURA_GRAPHQL_JWT_SECRET has type "${String(type)}"; expected one of ${HASURA_TYPES.join(', ')}`);
  }
  if (typeof key !== 'string' || key.length === 0) {
    throw new UserError(`HASURA_GRAPHQL_JWT_SECRET has no "key" or "jwk_url"; expected ${HASURA_FORMS}`);
  }
  return kind.startsWith('HS') ? { secret: key, publicKey: undefined, jwksUrl: undefined } : { secret: undefined, publicKey: key, jwksUrl: undefined };
}

/** REALTIME_ALLOWED_ORIGINS: comma-separated origins (`https://app.example.com`, `http://localhost:5173`) or `*`. */
function allowedOrigins(env: NodeJS.ProcessEnv): string[] {
  const entries = (env.REALTIME_ALLOWED_ORIGINS ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  return entries.map((entry) => {
    if (entry === '*') return entry;
    const url = URL.canParse(entry) ? new URL(entry) : undefined;
    if (!url || !['http:', 'https:'].includes(url.protocol) || url.pathname !== '/' || url.search || url.hash || url.username) {
      throw new UserError(`REALTIME_ALLOWED_ORIGINS entry "${entry}" is not an origin; expected http(s)://host[:port] such as https://app.example.com, or *`);
    }
    return url.origin;
  });
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

function logLevel(env: NodeJS.ProcessEnv): string {
  const level = env.REALTIME_LOG_LEVEL?.trim() || 'info';
  if (!LOG_LEVELS.includes(level)) throw new UserError(`REALTIME_LOG_LEVEL "${level}" is not valid; expected one of: ${LOG_LEVELS.join(', ')}`);
  return level;
}

function captureChoice(env: NodeJS.ProcessEnv): CaptureChoice {
  const choice = env.REALTIME_CAPTURE?.trim().toLowerCase() || 'auto';
  if (!(CAPTURE_CHOICES as readonly string[]).includes(choice)) throw new UserError(`REALTIME_CAPTURE "${env.REALTIME_CAPTURE?.trim()}" is not valid; expected one of: ${CAPTURE_CHOICES.join(', ')}`);
  return choice as CaptureChoice;
}

const TRUE_WORDS = ['true', '1', 'on', 'yes'];
const FALSE_WORDS = ['false', '0', 'off', 'no'];

function boolean(env: NodeJS.ProcessEnv, variable: Variable<boolean>): boolean {
  const raw = env[variable.name]?.trim().toLowerCase();
  if (!raw) return variable.fallback;
  if (TRUE_WORDS.includes(raw)) return true;
  if (FALSE_WORDS.includes(raw)) return false;
  throw new UserError(`${variable.name} "${env[variable.name]?.trim()}" is not valid; expected one of: ${[...TRUE_WORDS, ...FALSE_WORDS].join(', ')}`);
}

function integer(env: NodeJS.ProcessEnv, variable: Variable<number>, min: number, max: number): number {
  const raw = env[variable.name]?.trim();
  if (!raw) return variable.fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new UserError(`${variable.name} "${raw}" is not valid; expected a whole number from ${min} to ${max}`);
  }
  return value;
}
