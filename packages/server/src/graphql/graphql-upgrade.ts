// Which WebSocket upgrades go to GraphQL, and the refusals they get before the upgrade (origin, shutdown).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Authenticator } from '../auth/auth.js';
import type { ServerConfig } from '../config.js';
import { originRefusal } from '../origin-policy.js';
import { refuseUpgrade } from '../upgrade-refusal.js';
import { GRAPHQL_PATHS } from './graphql-service.js';

/** True when `request` is for the GraphQL endpoint. */
export function isGraphQLPath(request: IncomingMessage): boolean {
  return GRAPHQL_PATHS.includes(new URL(request.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, ''));
}

/** What decides a refusal: the allowed origins, development mode and the shutdown flag. */
export interface GraphQLUpgradeDeps {
  readonly config: Pick<ServerConfig, 'allowedOrigins'>;
  readonly auth: Pick<Authenticator, 'developmentMode'>;
  readonly shuttingDown: boolean;
}

/** Answers and returns true when a GraphQL upgrade is refused: a page from an origin not allowed, or a server shutting down. */
export function refuseGraphQLUpgrade(deps: GraphQLUpgradeDeps, request: IncomingMessage, socket: Duplex): boolean {
  const refused =
    originRefusal(request.headers.origin, deps.config.allowedOrigins, deps.auth.developmentMode) ??
    (deps.shuttingDown ? { status: 503, error: 'Realtime is restarting, please standby' } : undefined);
  if (!refused) return false;
  refuseUpgrade(socket, refused.status, refused.error);
  return true;
}
