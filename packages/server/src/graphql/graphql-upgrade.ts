// Which WebSocket upgrades go to GraphQL, and the refusals they get before the upgrade (origin, shutdown).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Authenticator } from '../auth/auth.js';
import type { ServerConfig } from '../config.js';
import { originRefusal } from '../origin-policy.js';
import { GRAPHQL_PATHS } from './graphql-service.js';

/** True when `request` is for the GraphQL endpoint. */
export function isGraphQLPath(request: IncomingMessage): boolean {
  return GRAPHQL_PATHS.includes(new URL(request.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, ''));
}

/** Answers and returns true when a GraphQL upgrade is refused: a page from an origin not allowed, or a server shutting down. */
/** What decides a refusal: the allowed origins, development mode and the shutdown flag. */
export interface GraphQLUpgradeDeps {
  readonly config: Pick<ServerConfig, 'allowedOrigins'>;
  readonly auth: Pick<Authenticator, 'developmentMode'>;
  readonly shuttingDown: boolean;
}

export function refuseGraphQLUpgrade(deps: GraphQLUpgradeDeps, request: IncomingMessage, socket: Duplex): boolean {
  const refused =
    originRefusal(request.headers.origin, deps.config.allowedOrigins, deps.auth.developmentMode) ??
    (deps.shuttingDown ? { status: 503, error: 'Realtime is restarting, please standby' } : undefined);
  if (!refused) return false;
  const body = JSON.stringify({ error: refused.error });
  socket.end(
    `HTTP/1.1 ${refused.status} ${refused.status === 503 ? 'Service Unavailable' : 'Forbidden'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  return true;
}
