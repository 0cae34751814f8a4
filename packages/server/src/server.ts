// Starts and stops a realtime server: database, migrations, listener, feeds, HTTP routes and WebSocket gateway.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import {
  BROADCAST_NOTIFY_CHANNEL,
  Leadership,
  migrate,
  openPool,
  postgresBroadcastLog,
  type NotificationListener,
  readSetting,
  releaseEmbeddedPostgres,
  resolveDatabaseUrl,
  setUpCapturePath,
  UserError,
  type BroadcastNote,
  type CapturePath,
  type Pool,
} from '@nself/db';
import { CloseCode } from '@nself/protocol';
import type { GraphQLLimits } from '@nself/graphql';
import { AccessWatch, type AccessNotification } from './channel/access-watch.js';
import { Authenticator } from './auth/auth.js';
import { BroadcastFeed } from './broadcast/broadcast-feed.js';
import { loadBroadcastKeys } from './broadcast/broadcast-keys.js';
import { CallerRates } from './caller-rates.js';
import { ChannelDirectory } from './channel/channel-directory.js';
import {
  checkPresenceStateLimit,
  checkSecretStrength,
  defaultHost,
  defaultPresenceStateBytes,
  loadConfig,
  secretWarning,
  verifiesTokens,
  type Limits,
  type ServerConfig,
} from './config.js';
import { ConnectionTracker } from './connections/connection-tracker.js';
import { ExpiryWatch } from './channel/expiry-watch.js';
import { HistoryReads } from './broadcast/history-reads.js';
import { JoinHistoryReads } from './channel/join-history.js';
import { createRoutes } from './http/http-routes.js';
import { ACCESS_CHANNEL, createListener, listenToServerChannels, PRESENCE_CHANNEL } from './listener.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import type { PostgresChangesExtension } from './table-changes/postgres-changes.js';
import { PresenceFeed, type PresenceNotification } from './presence/presence-feed.js';
import { startRetentionSweeper } from './retention-sweeper.js';
import { registerSlotGauges, startSlotWatch } from './table-changes/slot-monitor.js';
import { createTableChanges, type TableChangesOptions } from './table-changes/index.js';
import { WebSocketGateway } from './socket/websocket-gateway.js';
import { ignoreError, refuseUpgrade } from './upgrade-refusal.js';
import type { ClientSocket } from './socket/client-socket.js';
import { GraphQLService } from './graphql/graphql-service.js';
import { isGraphQLPath, refuseGraphQLUpgrade } from './graphql/graphql-upgrade.js';
import { ConnectionSlots } from './socket/connection-slots.js';
import { LogCode } from './log-codes.js';
import { answerMetricsRequests } from './cluster-metrics.js';

/** Options of `startServer`: the environment's configuration, with any field overridden. */
export interface StartOptions extends Partial<Omit<ServerConfig, 'limits' | 'graphqlLimits'>> {
  readonly limits?: Partial<Limits>;
  readonly graphqlLimits?: Partial<GraphQLLimits>;
  /** Environment to read the configuration from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** How the number of processes was chosen, said in the start line of a server of one process (`nself realtime start`). */
  readonly workersChosenBy?: string;
  /** Builds the extension that delivers `postgres_changes`. @default table changes from the capture log */
  readonly postgresChanges?: (deps: TableChangesOptions) => PostgresChangesExtension;
}

/** A running server. */
export interface RunningServer {
  readonly port: number;
  /** `http://host:port` of the server (WebSocket clients use `ws://host:port/realtime/v1`). */
  readonly url: string;
  readonly config: ServerConfig;
  readonly serverId: string;
  readonly logger: Logger;
  /** The process's LISTEN connection, e.g. to find its backend pid. */
  readonly listener: NotificationListener;
  /** Closes every socket with 1001, marks connections and presence offline, and releases the database. */
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 2_000;
/** The advisory lock whose holder, among every process on the database, runs the sweeps. */
const SWEEP_LEADERSHIP = 'nself realtime: sweeps';
/** How often a process that does not run the sweeps asks again (sooner when the sweep interval is shorter). */
const SWEEP_LEADERSHIP_RETRY_MS = 5_000;
const READY_TIMEOUT_MS = 2_000;

/** Starts a server: applies migrations, starts listening on the database, then opens the port. */
export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const config = configure(options);
  const logger = createLogger({ file: config.logFile, level: config.logLevel, stdout: config.logToStdout, pretty: config.logPretty });
  // The embedded PostgreSQL, when this server starts it, stops with the server unless another process still uses it.
  const databaseUrl = await resolveDatabaseUrl({ DATABASE_URL: config.databaseUrl ?? '' }, 'while-used');
  const pool = await openPool(databaseUrl, { max: 20 });
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }
  let capture: CapturePath;
  try {
    capture = await setUpCapturePath(pool, config.capture);
  } catch (error) {
    if (config.capture === 'wal') {
      await pool.end();
      throw new UserError((error as Error).message);
    }
    capture = { path: 'trigger', slot: '', reason: `setting up capture from the write-ahead log failed (${(error as Error).message}); table changes are captured by triggers` };
  }
  const metrics = createMetrics();
  registerSlotGauges(metrics.registry, pool);
  const serverId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const auth = new Authenticator({ secret: config.jwtSecret, publicKey: config.jwtPublicKey, jwksUrl: config.jwksUrl });
  const listener = createListener(databaseUrl, logger);
  const sweepLeadership = new Leadership({
    connection: databaseUrl,
    name: SWEEP_LEADERSHIP,
    retryMs: Math.min(config.sweepIntervalMs, SWEEP_LEADERSHIP_RETRY_MS),
    onChange: (leading) => {
      metrics.sweepLeading.set(leading ? 1 : 0);
      logger.info({ code: leading ? LogCode.sweepLeading : LogCode.sweepStoppedLeading }, leading ? 'this process runs the sweeps' : 'this process no longer runs the sweeps');
    },
  });
  const history = new HistoryReads(pool);
  const noteKeys = await loadBroadcastKeys(pool, logger);
  // What the parts of the server share; each takes the fields it uses (its own Deps type) from this one object.
  const services = {
    config,
    pool,
    logger,
    metrics,
    serverId,
    auth,
    channels: new ChannelDirectory(pool),
    broadcasts: new BroadcastFeed(postgresBroadcastLog(pool, { carry: config.broadcastNotifyPayloads && noteKeys !== undefined }), logger, metrics, noteKeys),
    presence: new PresenceFeed(pool, logger),
    access: new AccessWatch(pool, logger),
    history,
    joinHistory: new JoinHistoryReads(pool, history, config.replayMax),
    expiries: new ExpiryWatch(),
    sweepLeadership,
    restRates: new CallerRates(config.limits.maxRestMessagesPerSecond),
    postgresChanges: (options.postgresChanges ?? createTableChanges)({
      pool,
      logger,
      databaseUrl,
      listener,
      metrics,
      developmentMode: auth.developmentMode,
      changesAtCommit: config.changesAtCommit,
      capturePath: capture.path,
      anonymousRole: config.anonymousRole,
      limits: config.limits,
    }),
    /** Set once shutdown begins: new joins, upgrades and writes are refused. */
    shuttingDown: false,
  };
  await listenToServerChannels(
    listener,
    {
      onNotification: (channel, payload, text) => {
        if (channel === BROADCAST_NOTIFY_CHANNEL) {
          const note = payload as BroadcastNote;
          if (note.deleted) return services.broadcasts.deleted(note);
          // A note no server made (a login may NOTIFY) must not tell the access watch that a message was seen.
          const authentic = services.broadcasts.authentic(note, text);
          if (authentic) services.access.witness(note.channel_id, Number(note.offset));
          services.broadcasts.notify(note, authentic);
        } else if (channel === PRESENCE_CHANNEL) services.presence.notify(payload as PresenceNotification);
        else if (channel === ACCESS_CHANNEL) services.access.notify(payload as AccessNotification);
      },
      onReconnected: () => {
        metrics.listenerReconnects.inc();
        services.access.reconnected();
        services.broadcasts.catchUp();
        services.presence.resync();
      },
    },
    logger,
  );
  try {
    await listener.start();
  } catch (error) {
    await pool.end();
    throw error;
  }
  await sweepLeadership.start();
  const tracker = new ConnectionTracker<ClientSocket>(services);
  const retention = startRetentionSweeper(services);
  const slotWatch = startSlotWatch(pool, logger, config.slotStaleSeconds, () => sweepLeadership.leading);
  const gateway = new WebSocketGateway(services, tracker);
  const stopAnsweringMetrics = answerMetricsRequests(metrics.registry);
  const graphql = new GraphQLService(services);
  const routes = createRoutes(
    services,
    () => isDatabaseReachable(pool),
    () => new Map([...tracker.sockets].map((socket) => [socket.id, [...socket.channels.keys()].map((topic) => topic.replace(/^realtime:/, ''))])),
    graphql,
  );
  // The routes answer every failure themselves (a 500 at worst), so their promise never rejects.
  const http = createServer((request, response) => void routes(request, response));
  const slots = new ConnectionSlots(config.limits.maxConnections);
  http.on('upgrade', (request, socket, head) => {
    // Node drops its own error listener from a socket it hands over for an upgrade: a reset before the answer must not throw.
    socket.on('error', ignoreError);
    if (!slots.take(socket)) {
      const error = `the server holds its most connections, ${config.limits.maxConnections} (REALTIME_MAX_CONNECTIONS); retry later`;
      logger.info({ code: LogCode.connectionRefused, status: 503, reason: error, path: request.url?.split('?')[0], remoteAddress: request.socket.remoteAddress }, error);
      return refuseUpgrade(socket, 503, error);
    }
    if (isGraphQLPath(request)) {
      if (!refuseGraphQLUpgrade(services, request, socket)) graphql.handleUpgrade(request, socket, head);
      return;
    }
    gateway.handleUpgrade(request, socket, head).catch((error: unknown) => {
      logger.error({ code: LogCode.upgradeFailed, err: error }, 'WebSocket upgrade failed');
      socket.destroy();
    });
  });
  let port: number;
  try {
    port = await listen(http, config.port, config.host);
  } catch (error) {
    // Nothing is left running, so that the process ends with its error.
    tracker.stop();
    services.expiries.stop();
    stopAnsweringMetrics();
    await retention.stop();
    slotWatch.stop();
    await sweepLeadership.stop();
    gateway.wss.close();
    graphql.close(CloseCode.goingAway, 'server shutting down');
    await services.postgresChanges?.close?.();
    await listener.stop();
    await pool.end();
    throw listenRefusal(error, config.port, config.host);
  }
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  if (services.auth.developmentMode && isLoopback(config.host)) {
    logger.warn(
      { code: LogCode.developmentMode },
      `DEVELOPMENT MODE: no REALTIME_JWT_SECRET, REALTIME_JWT_PUBLIC_KEY, REALTIME_JWKS_URL or HASURA_GRAPHQL_JWT_SECRET is set, so anyone who can connect gets in without a valid token; listening on ${config.host} only; set REALTIME_HOST=0.0.0.0 and a JWT secret to accept other machines`,
    );
  } else if (services.auth.developmentMode) {
    logger.warn(
      { code: LogCode.developmentMode },
      'DEVELOPMENT MODE: no REALTIME_JWT_SECRET, REALTIME_JWT_PUBLIC_KEY, REALTIME_JWKS_URL or HASURA_GRAPHQL_JWT_SECRET is set, so anyone can connect without a valid token. Set a secret before exposing this server.',
    );
  }
  if (capture.path === 'wal') logger.info({ code: LogCode.capturePathWal }, capture.reason);
  else logger.warn({ code: LogCode.capturePathTrigger }, capture.reason);
  const weakSecret = secretWarning(config.jwtSecret);
  if (weakSecret) logger.warn({ code: LogCode.weakSecret }, weakSecret);
  logger.info(
    { code: LogCode.serverListening, port, serverId, websocket: `ws://${shownHost}:${port}/realtime/v1/websocket` },
    options.workersChosenBy ? `realtime server listening with 1 process (REALTIME_WORKERS=${options.workersChosenBy})` : 'realtime server listening',
  );

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      services.shuttingDown = true;
      tracker.stop();
      services.expiries.stop();
      // No new broadcasts are taken; those already taken commit and get their acks before any socket closes.
      const sockets = [...tracker.sockets];
      for (const socket of sockets) for (const channel of [...socket.channels.values()]) channel.dispose({ endPresence: false });
      await Promise.race([services.broadcasts.closeWrites(), new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS))]);
      await retention.stop();
      slotWatch.stop();
      await sweepLeadership.stop();
      await tracker
        .disconnectAll(sockets.map((socket) => socket.id))
        .catch((error: unknown) => logger.error({ code: LogCode.connectionsDisconnectAllFailed, err: error }, 'marking connections offline failed'));
      const allClosed = Promise.all(
        sockets.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (!tracker.sockets.has(socket)) return resolve();
              const check = setInterval(() => {
                if (!tracker.sockets.has(socket)) {
                  clearInterval(check);
                  resolve();
                }
              }, 20);
            }),
        ),
      );
      for (const socket of sockets) socket.close(CloseCode.goingAway, 'server shutting down');
      graphql.close(CloseCode.goingAway, 'server shutting down');
      await Promise.race([allClosed, new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS))]);
      for (const socket of tracker.sockets) socket.terminate();
      await tracker.settle();
      gateway.wss.close();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      await services.postgresChanges?.close?.();
      await listener.stop();
      await pool.end();
      stopAnsweringMetrics();
      if (!config.databaseUrl) await releaseEmbeddedPostgres();
      logger.info({ code: LogCode.serverStopped, serverId }, 'realtime server stopped');
    })();
    return closing;
  };
  return { port, url: `http://${shownHost}:${port}`, config, serverId, logger, listener, close };
}

function configure(options: StartOptions): ServerConfig {
  const { limits, graphqlLimits, env, postgresChanges: _extension, workersChosenBy: _workers, ...overrides } = options;
  const environment = env ?? process.env;
  const base = loadConfig(environment);
  // An explicit undefined jwtSecret or databaseUrl means none: development mode, the embedded PostgreSQL.
  const given = Object.entries(overrides).filter(([key, value]) => value !== undefined || key === 'jwtSecret' || key === 'databaseUrl');
  // A send buffer given here, with no presence cap set anywhere, brings the default cap under it.
  const presenceCap =
    limits?.maxSendBufferBytes !== undefined && limits.maxPresenceStateBytes === undefined && readSetting(environment, 'REALTIME_MAX_PRESENCE_STATE_BYTES') === undefined
      ? { maxPresenceStateBytes: defaultPresenceStateBytes(limits.maxSendBufferBytes) }
      : {};
  const config = {
    ...base,
    ...Object.fromEntries(given),
    limits: { ...base.limits, ...limits, ...presenceCap },
    graphqlLimits: { ...base.graphqlLimits, ...graphqlLimits },
  } as ServerConfig;
  // The secret may come from the options: the default address and the secret check follow the one used.
  checkSecretStrength(config.jwtSecret, environment);
  checkPresenceStateLimit(config.limits);
  return { ...config, host: overrides.host ?? readSetting(environment, 'REALTIME_HOST') ?? defaultHost(verifiesTokens(config)) };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** A port that is taken or not allowed, as one line that says what to do; other errors as they are. */
function listenRefusal(error: unknown, port: number, host: string): unknown {
  const code = (error as { code?: string }).code;
  if (code === 'EADDRINUSE') {
    return new UserError(`port ${port} on ${host} is already in use (is another server running?); choose another with --port <port> or REALTIME_PORT`);
  }
  if (code === 'EACCES') return new UserError(`port ${port} on ${host} needs privileges this process lacks; choose one above 1023 with --port <port> or REALTIME_PORT`);
  if (code === 'EADDRNOTAVAIL') return new UserError(`address ${host} is not one of this machine's; choose another with --host <address> or REALTIME_HOST`);
  return error;
}

function listen(http: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      http.off('error', reject);
      const address = http.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

async function isDatabaseReachable(pool: Pool): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
  });
  const probe = pool.query('SELECT 1').then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
