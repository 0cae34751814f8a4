// Every setting of the server and the CLI, declared once: variable, flag, default, accepted values and meaning.
import { UserError } from '../errors.js';
import { boolean, choice, custom, decimal, derivedInteger, integer, text, type Setting } from './setting.js';

/** Log levels the server accepts, quietest last. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** What an operator asks for (REALTIME_CAPTURE): the WAL path where the database allows it, only it, or triggers. */
export const CAPTURE_CHOICES = ['auto', 'wal', 'trigger'] as const;
export type CaptureChoice = (typeof CAPTURE_CHOICES)[number];

const HASURA_FORM = '{"type":"HS256","key":"<secret>"}, {"type":"RS256","key":"<PEM public key>"} or {"jwk_url":"https://…/jwks.json"}';
const HASURA_TYPES = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA'];

/** What Hasura's JSON HASURA_GRAPHQL_JWT_SECRET gives: a shared secret, a public key, or a JWKS URL. */
export interface HasuraJwtKey {
  readonly secret?: string;
  readonly publicKey?: string;
  readonly jwksUrl?: string;
}
/** More worker processes than this would be a typo, not a machine. */
const MAX_WORKERS = 256;

/** What re-runs a GraphQL live query: committed changes to the tables it reads, or a one-second timer. */
export const GRAPHQL_LIVE_QUERY_TRIGGERS = ['changes', 'poll'] as const;
export type GraphQLLiveQueryTrigger = (typeof GRAPHQL_LIVE_QUERY_TRIGGERS)[number];

const ORIGIN_FORM = 'http(s)://host[:port] such as https://app.example.com, or *';

/**
 * The settings, keyed by environment variable, in the order the README lists them. The names and the
 * defaults of DATABASE_URL, REALTIME_PORT, REALTIME_HOST and the JWT secrets are promises to users.
 */
export const SETTINGS = {
  DATABASE_URL: text('embedded PostgreSQL under `.nself/`', 'a connection string: `postgres://user:password@host:port/database`', {
    description: 'the PostgreSQL to use; unset, the server and the CLI start an embedded one on demand',
  }),
  NSELF_DATA_DIR: text('`./.nself`', 'a directory', {
    description:
      'where the embedded PostgreSQL and the server log live (run as root, PostgreSQL runs as the `postgres` system user, which must be able to enter every directory above it)',
  }),
  NODE_ENV: text('none', '`production`, or anything else', {
    description: '`production` refuses to start without a way to verify client tokens (a JWT secret of at least 32 bytes, a public key or a JWKS)',
  }),
  REALTIME_PORT: integer(3100, 0, 65535, {
    flag: '--port',
    description: 'the port the server listens on (0 picks a free one); `nself realtime status` asks it for health',
  }),
  REALTIME_HOST: text('`0.0.0.0` with a JWT secret, `127.0.0.1` in development mode', 'an address or host name', {
    flag: '--host',
    description: 'the address the server binds; development mode lets anyone in, so it accepts only this machine unless this says otherwise',
  }),
  REALTIME_WORKERS: custom<WorkerCount | undefined>(
    '`1`; `auto` when `NODE_ENV=production`',
    `a whole number of processes from 1 to ${MAX_WORKERS}, or \`auto\` (one per core this process may use)`,
    {
      flag: '--workers',
      description:
        'how many server processes share the port, each a full server over the same database; one that dies is replaced and its clients resume where they were ([docs/deployment.md](docs/deployment.md))',
    },
    parseWorkers,
  ),
  REALTIME_ALLOWED_ORIGINS: custom<readonly string[]>(
    'none',
    `comma-separated origins, ${ORIGIN_FORM}`,
    {
      description:
        'origins of web pages allowed to connect, `*` for any; in development mode pages are otherwise allowed only from `localhost`, `127.0.0.1` or `[::1]`, so another site open in your browser cannot use the server; with a JWT secret and none listed, every origin may connect. A refused page gets 403 ([docs/security.md](docs/security.md))',
    },
    parseOrigins,
  ),
  REALTIME_JWT_SECRET: text('none', 'a secret of at least 32 bytes (`openssl rand -base64 32`)', {
    description:
      'HS256/384/512 secret for client JWTs (user = `sub`); without it, `REALTIME_JWT_PUBLIC_KEY`, `REALTIME_JWKS_URL` or `HASURA_GRAPHQL_JWT_SECRET` the server runs in development mode and lets anyone in; refused when `NODE_ENV=production`, as is a secret under 32 bytes; elsewhere a short secret starts with a warning',
  }),
  REALTIME_JWT_PUBLIC_KEY: text('none', 'PEM (`-----BEGIN PUBLIC KEY-----…`, or a certificate), one JWK, or a JWKS (`{"keys":[…]}`)', {
    description:
      'public key for RS256/384/512, PS*, ES256/384/512 and EdDSA client JWTs; may be set beside the secret, so tokens of both kinds are accepted while an app moves to asymmetric signing keys',
  }),
  REALTIME_JWKS_URL: text('none', 'an `http(s)` URL, or a file path', {
    description:
      "a JWKS for client JWTs, such as Supabase's `https://<project>.supabase.co/auth/v1/.well-known/jwks.json` (cached for 10 minutes, fetched again when a token names an unknown `kid`, at most every 5 s)",
  }),
  HASURA_GRAPHQL_JWT_SECRET: custom<HasuraJwtKey | undefined>(
    'none',
    `Hasura's JSON form, \`${HASURA_FORM}\``,
    {
      description:
        'the JWT key as nself and Hasura stacks set it (user = `x-hasura-user-id`); used when none of `REALTIME_JWT_SECRET`, `REALTIME_JWT_PUBLIC_KEY` and `REALTIME_JWKS_URL` is set',
    },
    parseHasuraSecret,
  ),
  REALTIME_LOG_FILE: text('`<NSELF_DATA_DIR>/logs/realtime.log`', 'a file path', {
    description: "the server's JSON log (also on stdout), read by `nself realtime logs`",
  }),
  REALTIME_LOG_LEVEL: choice<LogLevel>('info', LOG_LEVELS, { description: 'the least severe level the server logs' }),
  REALTIME_LOG_FORMAT: choice<LogFormat>('auto', LOG_FORMATS, {
    caseless: true,
    description:
      "how the server's log lines on stdout and `nself realtime logs` print: `auto` is one readable line per entry (local time with its UTC offset, level, `[code]`, message, then its fields) on a terminal and JSON lines when piped; `pretty` and `json` force one; the log file is always JSON",
  }),
  REALTIME_MAX_FRAME_BYTES: integer(1_048_576, 1024, 100_000_000, {
    description: 'largest WebSocket frame accepted, in bytes; larger closes the socket with 1009',
  }),
  REALTIME_MAX_PAYLOAD_BYTES: integer(262_144, 16, 100_000_000, {
    description:
      'largest broadcast payload, in bytes, for the server and the CLI (the database refuses stored payloads over `realtime.max_payload_bytes`, 262144 unless set; raise both together)',
  }),
  REALTIME_MAX_PRESENCE_BYTES: integer(16_384, 16, 100_000_000, {
    description:
      'largest presence one track holds, in bytes of its JSON (every joiner receives every presence of the channel); larger closes the channel with `Track message size exceeded`',
  }),
  REALTIME_MAX_PRESENCE_STATE_BYTES: derivedInteger('1048576 (half the send buffer when that is less)', 1024, 1_000_000_000, {
    description:
      "largest presence one channel holds, in bytes of its metas' JSON (the `presence_state` every joiner receives); a track that would pass it is refused with `PresenceStateFull`; must be below `REALTIME_MAX_SEND_BUFFER_BYTES`",
  }),
  REALTIME_MAX_CONNECTIONS: integer(100_000, 1, 10_000_000, {
    description:
      'WebSocket connections one server process holds, Supabase-protocol and GraphQL sockets counted together; one more upgrade is refused with 503 before any token is read (with `REALTIME_WORKERS`, each worker holds this many)',
  }),
  REALTIME_MAX_CHANNELS_PER_CONNECTION: integer(100, 1, 100_000, {
    description: "channels one connection may join, answered with Supabase's `ChannelRateLimitReached`",
  }),
  REALTIME_MAX_JOINS_PER_SECOND: integer(100, 1, 1_000_000, {
    description: "joins per second one connection may make, answered with Supabase's `ClientJoinRateLimitReached`",
  }),
  REALTIME_MAX_MESSAGES_PER_SECOND: integer(100, 1, 1_000_000, {
    description: "messages per second one connection may send, answered with Supabase's `Too many messages per second`",
  }),
  REALTIME_MAX_BATCH_MESSAGES: integer(100, 1, 100_000, { description: 'messages in one `POST /api/broadcast` (more: 429)' }),
  REALTIME_MAX_REST_MESSAGES_PER_SECOND: integer(100, 1, 1_000_000, {
    description: 'REST broadcast messages per second per caller, by token user or by address when anonymous (more: 429)',
  }),
  REALTIME_MAX_REST_NEW_CHANNELS: integer(10, 0, 100_000, { description: 'channels that do not exist yet one REST broadcast request may create (more: 422)' }),
  REALTIME_MAX_SEND_BUFFER_BYTES: integer(4_194_304, 1024, 1_000_000_000, { description: 'bytes queued for a socket before it is closed as a slow reader' }),
  REALTIME_IDLE_TIMEOUT_MS: integer(60_000, 100, 3_600_000, { description: 'silence (not even a heartbeat) before a socket is closed, in ms' }),
  REALTIME_MAX_HEARTBEATS_PER_SECOND: integer(10, 1, 1_000_000, {
    description: 'heartbeats one connection may send per second; more closes it with 1008 (supabase-js sends one every 25 s)',
  }),
  REALTIME_MAX_MESSAGES_IN_FLIGHT: integer(256, 2, 1_000_000, {
    description: 'messages of one connection waiting to be handled; beyond it the server stops reading that connection until half are done',
  }),
  REALTIME_MAX_JSON_DEPTH: integer(100, 8, 1_000, {
    description:
      "deepest nesting of arrays and objects in a client's JSON (a frame, a REST body, a CLI argument); deeper is refused with an `InvalidPayload` error reply (WebSocket), 422 (REST) or a one-line CLI error, as are numbers a 64-bit float cannot keep exactly and `\\u0000` or half-surrogate escapes",
  }),
  REALTIME_MAX_FILTER_VALUES: integer(100, 1, 100_000, { description: 'values in one `in.(…)` of a `postgres_changes` filter' }),
  REALTIME_MAX_FILTER_LENGTH: integer(4096, 16, 1_000_000, { description: 'characters of one `postgres_changes` filter' }),
  REALTIME_MAX_BINDINGS_PER_JOIN: integer(100, 1, 100_000, { description: '`postgres_changes` bindings one join may carry' }),
  REALTIME_FILTER_BUDGET_MS: integer(1000, 10, 600_000, {
    description: 'time one statement judging `postgres_changes` filters may take before its filters lose the batch, in ms',
  }),
  REALTIME_TOUCH_INTERVAL_MS: integer(15_000, 100, 3_600_000, { description: 'how often the server refreshes the last-seen time of its live connections, in ms' }),
  REALTIME_STALE_AFTER_SECONDS: integer(300, 1, 86_400, {
    description: 'a connection or presence unseen for longer than this is gone: the server sweeps it, and it is the default of `nself realtime cleanup` and `presence cleanup`',
  }),
  REALTIME_SWEEP_INTERVAL_MS: integer(30_000, 100, 3_600_000, {
    description:
      'how often the server sweeps stale connections and presence, in ms (one process per database sweeps: [docs/deployment.md](docs/deployment.md#work-that-runs-once))',
  }),
  REALTIME_SLOT_STALE_SECONDS: integer(300, 1, 31_536_000, {
    description:
      'a replication slot no consumer has read for longer than this is logged as an error by the server process that runs the sweeps (checked about once a minute) and shown as a warning by `nself realtime status`: it keeps WAL until the disk is full ([docs/capture.md](docs/capture.md#the-replication-slot))',
  }),
  REALTIME_RETENTION_HOURS: decimal(24, 'hours', '24 or 72', {
    description:
      'how long channel messages and table changes are kept (a channel\'s `{"retention_hours": n}` metadata wins for its messages), used by the server\'s retention sweep and by `nself realtime cleanup` ([docs/history.md](docs/history.md#retention))',
  }),
  REALTIME_RETENTION_INTERVAL_MS: integer(300_000, 100, 86_400_000, { description: 'how often the server trims logs past their retention, in ms' }),
  REALTIME_REPLAY_MAX: integer(25, 1, 100_000, { description: 'most messages one `config.broadcast.replay` join receives' }),
  REALTIME_BROADCAST_NOTIFY_PAYLOADS: boolean(true, {
    description:
      "the notification of each broadcast this server stores on a public channel carries the message itself (when it fits in 7,000 bytes), signed (HMAC-SHA256) with a key in `realtime.broadcast_note_keys` that only the server's role can read, so the server's other worker processes and servers deliver it without reading it back from the log; a note a database login forges, alters or copies does not verify and delivers nothing; private and presence channels' notifications say only where each message is ([docs/deployment.md](docs/deployment.md#broadcasts-in-their-notifications))",
  }),
  REALTIME_ANONYMOUS_ROLE: custom<string | null>(
    '`anon`',
    'a role name, or empty for none',
    {
      description:
        "in development mode, the database role whose privileges and row-level security apply to table changes for clients without a token, when the database has that role (as Supabase's anon key); empty, or no such role: they see every table change ([docs/security.md](docs/security.md))",
    },
    (raw) => (raw === undefined ? 'anon' : raw.trim() || null),
  ),
  REALTIME_GRAPHQL_SCHEMAS: custom<readonly string[]>(
    'public',
    'comma-separated schema names',
    {
      description: 'the schemas whose tables and views the GraphQL endpoint (`/v1/graphql`) exposes to each role, as far as its grants allow ([docs/nhost.md](docs/nhost.md))',
    },
    (raw) => {
      const names = (raw ?? 'public')
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== '');
      return names.length > 0 ? names : ['public'];
    },
  ),
  REALTIME_GRAPHQL_MAX_TOKENS: integer(10_000, 100, 10_000_000, {
    description:
      'tokens (names, punctuation, values) in one GraphQL document; the parser stops at the limit and the request is refused with a `validation-failed` error, so a huge document costs no more to refuse than the limit',
  }),
  REALTIME_GRAPHQL_MAX_DEPTH: integer(10, 2, 1_000, {
    description:
      'deepest nesting of selections in one GraphQL operation, fragments included (`{ users { posts { title } } }` is 3); deeper is refused with a `validation-failed` error before any SQL runs',
  }),
  REALTIME_GRAPHQL_MAX_ROOT_FIELDS: integer(20, 1, 10_000, {
    description: 'root fields (aliases included) in one GraphQL operation, each one SQL statement; more is refused with a `validation-failed` error before any SQL runs',
  }),
  REALTIME_GRAPHQL_MAX_FIELDS: integer(1000, 1, 1_000_000, {
    description: 'fields one GraphQL operation selects in all, aliases and fragment uses counted each time; more is refused with a `validation-failed` error before any SQL runs',
  }),
  REALTIME_GRAPHQL_MAX_ROWS: integer(10_000, 1, 100_000_000, {
    description:
      'rows one list of a GraphQL result may hold (a root field, an array relationship, aggregate `nodes`, a stream batch); a list that would hold more is answered with a `row-limit-exceeded` error naming it, never cut short: ask for fewer with `limit` or `where` ([docs/nhost.md](docs/nhost.md#limits))',
  }),
  REALTIME_GRAPHQL_MAX_RESULT_ROWS: integer(100_000, 1, 1_000_000_000, {
    description:
      'rows of all the lists of one GraphQL result together (nested array relationships multiply: 100 authors with 1,000 posts each is 100,100 rows); more is answered with a `result-limit-exceeded` error, never a shorter result ([docs/nhost.md](docs/nhost.md#limits))',
  }),
  REALTIME_GRAPHQL_MAX_RESULT_BYTES: integer(67_108_864, 1024, 1_000_000_000, {
    description:
      "bytes of JSON one GraphQL result may hold (each root field's JSON is measured in the database, and one over the bound is never sent to the server); more is answered with a `result-limit-exceeded` error ([docs/nhost.md](docs/nhost.md#limits))",
  }),
  REALTIME_GRAPHQL_STATEMENT_TIMEOUT_MS: integer(10_000, 10, 3_600_000, {
    description: "longest one GraphQL statement may run (its transaction's `statement_timeout`), in ms; longer is cancelled and answered with a `statement-timeout` error",
  }),
  REALTIME_GRAPHQL_MAX_BATCH: integer(10, 1, 10_000, { description: 'requests in one batched GraphQL `POST` (a JSON list); more is refused with 400 before any runs' }),
  REALTIME_GRAPHQL_MAX_REQUESTS_PER_SECOND: integer(100, 1, 1_000_000, {
    description:
      'GraphQL requests per second over HTTP `POST` per caller, by token user or by client address when the request has no user (each request of a batch counts); more is answered with 429 and a `rate-limited` error',
  }),
  REALTIME_GRAPHQL_MAX_STREAM_BACKLOG: integer(100_000, 1, 100_000_000, {
    description:
      'inserted or updated rows one `_stream` subscription may have waiting to be looked up and sent; a stream that falls further behind ends with a `stream-backlog-exceeded` error (resubscribe from the last cursor value received)',
  }),
  REALTIME_GRAPHQL_MAX_OPERATIONS_PER_CONNECTION: integer(100, 1, 100_000, {
    description: 'GraphQL operations (subscriptions, and queries in progress) one WebSocket may run at once; one more is answered with an `error` message for its id',
  }),
  REALTIME_GRAPHQL_MAX_OPERATIONS_PER_SECOND: integer(100, 1, 1_000_000, {
    description: 'GraphQL operations one WebSocket may start per second; more are answered with an `error` message for their id',
  }),
  REALTIME_GRAPHQL_LIVE_QUERIES: choice('changes', GRAPHQL_LIVE_QUERY_TRIGGERS, {
    caseless: true,
    description:
      'what re-runs a GraphQL live query: `changes` re-runs it when a committed change to a table it reads can affect its result (the changed row can meet its `where`; through table change capture, within a few ms); `poll` re-runs every live query once a second and sends a result only when it changed, as Hasura does: the fallback for tables whose changes are not captured ([docs/nhost.md](docs/nhost.md))',
  }),
  HASURA_GRAPHQL_ADMIN_SECRET: text('none', 'a secret', {
    description:
      "a client sending it in `x-hasura-admin-secret` queries GraphQL as the server's own database user (or as the role in `x-hasura-role`), as Hasura's admin secret does; without it no admin secret is accepted ([docs/nhost.md](docs/nhost.md))",
  }),
  HASURA_GRAPHQL_UNAUTHORIZED_ROLE: text('none', 'a role name', {
    description:
      "the role GraphQL clients without a token act as, as in Hasura; without it such clients are refused (in development mode they act as the server's own user) ([docs/nhost.md](docs/nhost.md))",
  }),
  REALTIME_CAPTURE: choice('auto', CAPTURE_CHOICES, {
    caseless: true,
    description:
      "how table changes are captured: `auto` reads them from the write-ahead log when the database has `wal_level = logical` (and the server's role may set it up: a superuser once, for the publication; the REPLICATION attribute for the slot), else uses triggers and says why at start; `wal` refuses to start without the WAL path; `trigger` always uses triggers ([docs/capture.md](docs/capture.md))",
  }),
  REALTIME_CHANGES_AT_COMMIT: boolean(true, {
    description:
      "on the trigger path, while the server has a `postgres_changes` subscriber (and for a minute after the last one leaves), notify-mode writers number their table changes as they commit and hand them to the server in the notification: lower latency, 0.5 to 1 ms more per writing transaction on a small machine; `false` leaves numbering to the server's reads ([docs/capture.md](docs/capture.md#positions-at-commit))",
  }),
} satisfies Record<string, Setting<unknown>>;

export type SettingName = keyof typeof SETTINGS;
/** The value a setting reads as. */
export type SettingValue<N extends SettingName> = ReturnType<(typeof SETTINGS)[N]['parse']>;

/** REALTIME_ALLOWED_ORIGINS: comma-separated origins (`https://app.example.com`, `http://localhost:5173`) or `*`. */
/** How many server processes to run: a number, or one per core. */
export type WorkerCount = number | 'auto';

function parseWorkers(raw: string | undefined, label: string): WorkerCount | undefined {
  const value = raw?.trim() ?? '';
  if (value === '') return undefined;
  if (value === 'auto') return 'auto';
  const count = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(count) || count < 1 || count > MAX_WORKERS) {
    throw new UserError(`${label} "${raw}" is not valid; expected a whole number of processes from 1 to ${MAX_WORKERS}, or auto (one per core this process may use)`);
  }
  return count;
}

function parseOrigins(raw: string | undefined, label: string): readonly string[] {
  const entries = (raw ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  return entries.map((entry) => {
    if (entry === '*') return entry;
    const url = URL.canParse(entry) ? new URL(entry) : undefined;
    if (!url || !['http:', 'https:'].includes(url.protocol) || url.pathname !== '/' || url.search || url.hash || url.username) {
      throw new UserError(`${label} entry "${entry}" is not an origin; expected ${ORIGIN_FORM}`);
    }
    return url.origin;
  });
}

/** Hasura's JSON HASURA_GRAPHQL_JWT_SECRET: a `key` of an HS type is the secret, of another type a public key; or a `jwk_url`. */
function parseHasuraSecret(raw: string | undefined, label: string): HasuraJwtKey | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new UserError(`${label} is not JSON; expected ${HASURA_FORM}`);
  }
  const { type, key, jwk_url: jwkUrl } = (parsed ?? {}) as { type?: unknown; key?: unknown; jwk_url?: unknown };
  if (typeof jwkUrl === 'string' && jwkUrl !== '') return { jwksUrl: jwkUrl };
  const kind = type ?? 'HS256';
  if (typeof kind !== 'string' || !HASURA_TYPES.includes(kind)) throw new UserError(`${label} has type "${String(type)}"; expected one of ${HASURA_TYPES.join(', ')}`);
  if (typeof key !== 'string' || key.length === 0) throw new UserError(`${label} has no "key" or "jwk_url"; expected ${HASURA_FORM}`);
  return kind.startsWith('HS') ? { secret: key } : { publicKey: key };
}
