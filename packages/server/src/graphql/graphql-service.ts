// The GraphQL endpoint: queries over HTTP POST and both GraphQL WebSocket subprotocols at /v1/graphql, /graphql and /v1.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { OperationTypeNode } from 'graphql';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  graphqlError,
  GraphQLEngine,
  LEGACY_WS,
  LegacyWsSocket,
  LiveQueries,
  TRANSPORT_WS,
  TransportWsSocket,
  type Authorize,
  type GraphQLRequest,
  type GraphQLSocket,
  type GraphQLSocketDeps,
} from '@nself/graphql';
import type { Pool } from '@nself/db';
import { checkJsonText, CloseCode, JsonValueError } from '@nself/protocol';
import type { Authenticator } from '../auth/auth.js';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { PostgresChangesExtension } from '../table-changes/postgres-changes.js';
import { LogCode } from '../log-codes.js';
import { CallerRates } from '../caller-rates.js';
import { createGraphQLAuthorize } from './graphql-auth.js';
import { graphqlChangeSource } from './graphql-changes.js';

/** Paths of the GraphQL endpoint: Hasura's, a plain one, and Nhost's newer `/v1`. */
export const GRAPHQL_PATHS = ['/v1/graphql', '/graphql', '/v1'];

/** Changes arriving within this many ms of the first re-run a live query once. */
const LIVE_QUERY_BATCH_MS = 5;
/** With REALTIME_GRAPHQL_LIVE_QUERIES=poll, every live query re-runs this often (Hasura's interval). */
const LIVE_QUERY_POLL_MS = 1_000;
const INIT_TIMEOUT_MS = 10_000;
const LEGACY_KEEP_ALIVE_MS = 5_000;

/** The answer to an HTTP GraphQL request. */
export interface GraphQLHttpAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** What the GraphQL endpoint reads and reports to: the database, its settings, tokens, the change feed, metrics and the log. */
export interface GraphQLServiceDeps {
  readonly pool: Pool;
  readonly config: Pick<ServerConfig, 'graphqlSchemas' | 'graphqlLimits' | 'graphqlAdminSecret' | 'graphqlUnauthorizedRole' | 'graphqlLiveQueries' | 'limits'>;
  readonly auth: Authenticator;
  readonly postgresChanges: PostgresChangesExtension | undefined;
  readonly metrics: Pick<Metrics, 'graphqlSockets' | 'graphqlLiveQueries' | 'graphqlLiveQueryRuns' | 'graphqlLiveQuerySkips'>;
  readonly logger: Logger;
}

/** Serves GraphQL: one engine (schemas per role), one set of live queries, and the sockets. */
export class GraphQLService {
  private readonly engine: GraphQLEngine;
  private readonly authorize: Authorize;
  private readonly deps: GraphQLSocketDeps;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();
  private readonly httpRates: CallerRates;

  constructor(private readonly server: GraphQLServiceDeps) {
    this.httpRates = new CallerRates(server.config.graphqlLimits.maxRequestsPerSecond);
    this.engine = new GraphQLEngine(server.pool, { schemas: server.config.graphqlSchemas, limits: server.config.graphqlLimits });
    this.authorize = createGraphQLAuthorize({ auth: server.auth, adminSecret: server.config.graphqlAdminSecret, unauthorizedRole: server.config.graphqlUnauthorizedRole });
    const changes = graphqlChangeSource(server.pool, server.postgresChanges);
    this.deps = {
      engine: this.engine,
      live: new LiveQueries(this.engine, changes, {
        batchMs: LIVE_QUERY_BATCH_MS,
        ...(server.config.graphqlLiveQueries === 'poll' ? { pollMs: LIVE_QUERY_POLL_MS } : {}),
        observe: {
          evaluated: () => server.metrics.graphqlLiveQueryRuns.inc(),
          skipped: (changes) => server.metrics.graphqlLiveQuerySkips.inc(changes),
          groups: (count) => server.metrics.graphqlLiveQueries.set(count),
        },
      }),
      changes,
      authorize: this.authorize,
      initTimeoutMs: INIT_TIMEOUT_MS,
      maxJsonDepth: server.config.limits.maxJsonDepth,
      onUnexpected: (error) => server.logger.error({ code: LogCode.graphqlOperationFailed, err: error }, 'a GraphQL operation failed'),
    };
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: server.config.limits.maxFrameBytes,
      perMessageDeflate: false,
      // Hasura's choice: graphql-transport-ws when asked for, else the legacy protocol.
      handleProtocols: (protocols) => (protocols.has(TRANSPORT_WS) ? TRANSPORT_WS : protocols.has(LEGACY_WS) ? LEGACY_WS : false),
    });
  }

  /** Answers a POST: one request `{query, variables, operationName}` or a list of them, as the headers' caller. */
  async answerHttp(request: IncomingMessage, body: Buffer): Promise<GraphQLHttpAnswer> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return { status: 400, body: { errors: [graphqlError('the body is not JSON; expected {"query": "...", "variables": {...}}', 'parse-failed')] } };
    }
    try {
      checkJsonText(body.toString('utf8'), { maxDepth: this.server.config.limits.maxJsonDepth });
    } catch (error) {
      if (!(error instanceof JsonValueError)) throw error;
      return { status: 400, body: { errors: [graphqlError(`the body is refused: ${error.problem} at ${error.path}`, 'parse-failed')] } };
    }
    const units = Array.isArray(parsed) ? Math.max(1, parsed.length) : 1;
    let caller;
    try {
      caller = await this.authorize(lowerCaseHeaders(request));
    } catch (error) {
      return this.overRate(request, null, 1) ?? { status: 200, body: { errors: [graphqlError((error as Error).message, authErrorCode((error as Error).message))] } };
    }
    const { maxBatch } = this.server.config.graphqlLimits;
    if (Array.isArray(parsed) && parsed.length > maxBatch)
      return {
        status: 400,
        body: { errors: [graphqlError(`the batch has ${parsed.length} requests; at most ${maxBatch} are accepted (REALTIME_GRAPHQL_MAX_BATCH)`, 'batch-limit-exceeded')] },
      };
    const overRate = this.overRate(request, caller.session.userId, units);
    if (overRate) return overRate;
    const run = async (item: unknown) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item))
        return { errors: [graphqlError('expected {"query": "...", "variables": {...}, "operationName": "..."}', 'parse-failed')] };
      const prepared = await this.engine.prepare(caller.session, item as GraphQLRequest);
      if ('errors' in prepared) return { errors: prepared.errors };
      if (prepared.operation.operation === OperationTypeNode.SUBSCRIPTION)
        return { errors: [graphqlError('subscriptions need a WebSocket at this path (graphql-transport-ws or graphql-ws)', 'validation-failed')] };
      return this.engine.run(caller.session, prepared);
    };
    if (!Array.isArray(parsed)) return { status: 200, body: await run(parsed) };
    // A batch's requests run one after another, so one POST holds one database connection at a time.
    const answers = [];
    for (const item of parsed) answers.push(await run(item));
    return { status: 200, body: answers };
  }

  /**
   * The 429 answer when the caller has made more than REALTIME_GRAPHQL_MAX_REQUESTS_PER_SECOND requests
   * this second (each of a batch counted), else undefined. Callers are counted by token user, so that
   * the clients behind one proxy do not share a bound; requests without a user (or in development mode,
   * where tokens are not checked) are counted by client address.
   */
  private overRate(request: IncomingMessage, userId: string | null, units: number): GraphQLHttpAnswer | undefined {
    const anonymous = userId === null || this.server.auth.developmentMode;
    const caller = anonymous ? `address:${request.socket.remoteAddress ?? ''}` : `user:${userId}`;
    if (this.httpRates.take(caller, units)) return undefined;
    const { maxRequestsPerSecond } = this.server.config.graphqlLimits;
    return {
      status: 429,
      body: {
        errors: [
          graphqlError(`more than ${maxRequestsPerSecond} GraphQL requests in a second from this caller (REALTIME_GRAPHQL_MAX_REQUESTS_PER_SECOND); retry later`, 'rate-limited'),
        ],
      },
    };
  }

  /** Upgrades a request at a GraphQL path to a socket speaking the subprotocol it asked for. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      const text = { send: (data: string) => this.sendOrCloseSlowReader(ws, data), close: (code: number, reason: string) => ws.close(code, reason) };
      const session: GraphQLSocket = ws.protocol === TRANSPORT_WS ? new TransportWsSocket(text, this.deps) : new LegacyWsSocket(text, this.deps, LEGACY_KEEP_ALIVE_MS);
      this.sockets.add(ws);
      this.server.metrics.graphqlSockets.set(this.sockets.size);
      ws.on('message', (data, isBinary) => {
        if (isBinary) return ws.close(4400, 'Invalid message received: binary frame');
        try {
          session.receive(data.toString());
        } catch (error) {
          this.deps.onUnexpected(error);
          ws.close(4500, 'Internal server error');
        }
      });
      ws.on('close', () => {
        this.sockets.delete(ws);
        this.server.metrics.graphqlSockets.set(this.sockets.size);
        session.disconnected();
      });
      ws.on('error', () => ws.terminate());
    });
  }

  /**
   * Sends `data` unless the socket's unsent bytes are over the send buffer cap: a client that does not
   * read is closed as a slow reader (4008) rather than letting its backlog grow in the server's memory.
   */
  private sendOrCloseSlowReader(ws: WebSocket, data: string): void {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount <= this.server.config.limits.maxSendBufferBytes) return ws.send(data);
    this.server.logger.warn({ code: LogCode.slowReaderClosed, buffered: ws.bufferedAmount, protocol: ws.protocol }, 'closing a slow GraphQL reader');
    ws.close(CloseCode.slowConsumer, 'slow consumer');
  }

  /** Closes every GraphQL socket (server shutdown). */
  close(code: number, reason: string): void {
    for (const ws of this.sockets) ws.close(code, reason);
    this.wss.close();
  }
}

function lowerCaseHeaders(request: IncomingMessage): Record<string, string> {
  return Object.fromEntries(Object.entries(request.headers).flatMap(([name, value]) => (typeof value === 'string' ? [[name.toLowerCase(), value]] : [])));
}

function authErrorCode(message: string): string {
  return message.startsWith('Could not verify JWT') || message.startsWith('Malformed Authorization') ? 'invalid-jwt' : 'access-denied';
}
