// The WebSocket upgrade: endpoint paths, `vsn`, the connect-time token, then a ClientSocket (its connection row is written in a batch).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { PROTOCOL_VERSIONS } from '@nself/protocol';
import { LogCode } from '../log-codes.js';
import { ignoreError, refuseUpgrade } from '../upgrade-refusal.js';
import { isRefusal, tokenConnectError } from '../refusal.js';
import { createRouter, type RouterDeps } from './channel-router.js';
import { ClientSocket, type ClientSocketDeps, type SocketInfo } from './client-socket.js';
import type { ConnectionTracker } from '../connections/connection-tracker.js';
import type { Authenticator } from '../auth/auth.js';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { originRefusal } from '../origin-policy.js';

/** Paths that upgrade to the Supabase protocol; `/websocket` and `/` serve clients given just `ws://host:port`. */
export const WEBSOCKET_PATHS = ['/realtime/v1/websocket', '/socket/websocket', '/websocket', '/'];

/** What an upgrade is checked by, and what the sockets it opens use. */
export type GatewayDeps = RouterDeps &
  ClientSocketDeps & {
    readonly config: Pick<ServerConfig, 'limits' | 'allowedOrigins'>;
    readonly auth: Pick<Authenticator, 'verify' | 'developmentMode'>;
    readonly logger: Logger;
    /** Identifies this process in realtime.connections. */
    readonly serverId: string;
    /** Set once shutdown begins: upgrades are refused. */
    readonly shuttingDown: boolean;
  };

/** Accepts upgrades and turns each into a ClientSocket. */
export class WebSocketGateway {
  readonly wss: WebSocketServer;
  private readonly dispatch;

  constructor(
    private readonly deps: GatewayDeps,
    private readonly tracker: ConnectionTracker<ClientSocket>,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.config.limits.maxFrameBytes,
      perMessageDeflate: false,
      handleProtocols: () => false,
    });
    this.dispatch = createRouter(deps);
  }

  /** Handles the HTTP server's `upgrade` event. */
  async handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', ignoreError);
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (!WEBSOCKET_PATHS.includes(url.pathname.replace(/\/+$/, '') || '/')) {
      return this.refuse(request, socket, 404, `no WebSocket endpoint at ${url.pathname}; use /realtime/v1/websocket`);
    }
    const refusal = originRefusal(request.headers.origin, this.deps.config.allowedOrigins, this.deps.auth.developmentMode);
    if (refusal) return this.refuse(request, socket, refusal.status, refusal.error);
    // A repeated `vsn` counts by its last value, as Phoenix servers read query strings: phoenix's client
    // appends its own after an app's params (`?vsn=1.0.0&vsn=2.0.0`) and then speaks the last.
    const requested = url.searchParams.getAll('vsn').at(-1) ?? '1.0.0';
    const version = PROTOCOL_VERSIONS[(PROTOCOL_VERSIONS as readonly string[]).indexOf(requested)];
    if (version === undefined) {
      return this.refuse(request, socket, 400, `unsupported vsn "${requested}"; expected one of: ${PROTOCOL_VERSIONS.join(', ')}`);
    }
    if (this.deps.shuttingDown) return this.refuse(request, socket, 503, 'Realtime is restarting, please standby');
    const header = request.headers['x-api-key'];
    const token = (Array.isArray(header) ? header[0] : header) || url.searchParams.get('apikey') || undefined;
    let identity;
    try {
      identity = await this.deps.auth.verify(token?.startsWith('sb_') && this.deps.auth.developmentMode ? undefined : token);
    } catch (error) {
      if (!isRefusal(error, 'InvalidToken')) throw error;
      const { status, error: text } = tokenConnectError(error);
      return this.refuse(request, socket, status, text);
    }
    const info: SocketInfo = { id: randomUUID(), version, identity };
    this.tracker.record({
      connectionId: info.id,
      userId: identity.userId,
      serverId: this.deps.serverId,
      remoteAddress: request.socket.remoteAddress ?? null,
      userAgent: firstHeader(request.headers['user-agent']),
    });
    if (socket.destroyed) {
      this.tracker.recordDisconnect(info.id);
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.open(ws, socket, info));
  }

  /** Answers the upgrade with `status` and `{"error"}`, and logs the refusal with its reason (connection.refused). */
  private refuse(request: IncomingMessage, socket: Duplex, status: number, error: string): void {
    this.deps.logger.info(
      { code: LogCode.connectionRefused, status, reason: error, path: request.url?.split('?')[0], remoteAddress: request.socket.remoteAddress },
      `connection refused: ${error}`,
    );
    refuseUpgrade(socket, status, error);
  }

  private open(ws: WebSocket, socket: Duplex, info: SocketInfo): void {
    this.tracker.add(new ClientSocket(ws, socket, info, this.deps, this.dispatch, this.tracker));
    this.deps.logger.debug({ connectionId: info.id, userId: info.identity.userId, vsn: info.version }, 'client connected');
  }
}

function firstHeader(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}
