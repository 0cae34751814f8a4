// HTTP routes: health, ping, readiness, metrics, the inspector, GraphQL queries, REST broadcast, channel history and moderation, also under the /realtime/v1 prefix, with CORS.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { stringifyExact } from '@nself/db';
import type { Authenticator } from '../auth/auth.js';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { channelHistory, HISTORY_PATH, type HistoryRouteDeps } from './history-routes.js';
import { CHANNEL_PATH, deleteChannel, deleteMessage, MEMBER_PATH, MESSAGE_PATH, patchChannel, putMember, removeMember, type ModerationDeps } from './moderation-routes.js';
import { GRAPHQL_PATHS, type GraphQLService } from '../graphql/graphql-service.js';
import { originRefusal } from '../origin-policy.js';
import { batchBroadcast, singleBroadcast, type RestBroadcastDeps } from './rest-broadcast.js';
import type { RestAnswer } from './rest-json.js';
import { LogCode } from '../log-codes.js';
import { metricsText } from '../cluster-metrics.js';
import { inspectorRoute, type InspectorDeps } from '../inspector/inspector-routes.js';

const PREFIX = '/realtime/v1';
const MAX_BODY_BYTES_SLACK = 64 * 1024;
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
  'access-control-allow-headers': 'authorization, apikey, x-api-key, content-type, x-client-info, x-hasura-role, x-hasura-admin-secret',
  'access-control-max-age': '86400',
};

/** What the routes answer from: besides each route's own, the origin policy, the metrics, the log and the shutdown flag. */
export type RoutesDeps = RestBroadcastDeps &
  HistoryRouteDeps &
  ModerationDeps &
  InspectorDeps & {
    readonly config: Pick<ServerConfig, 'limits' | 'allowedOrigins'>;
    readonly auth: Pick<Authenticator, 'developmentMode'>;
    readonly metrics: Pick<Metrics, 'registry'>;
    readonly logger: Logger;
    /** Set once shutdown begins: requests that change anything are refused. */
    readonly shuttingDown: boolean;
  };

/**
 * Builds the request handler of the HTTP server. `ready()` tells whether the database answers; `joinedChannels` gives
 * the channels joined by each connection of this process, by its id (for the inspector); `graphql` answers GraphQL queries over HTTP.
 */
export function createRoutes(
  deps: RoutesDeps,
  ready: () => Promise<boolean>,
  joinedChannels: () => ReadonlyMap<string, readonly string[]>,
  graphql: Pick<GraphQLService, 'answerHttp'>,
) {
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const path = url.pathname.startsWith(PREFIX) ? url.pathname.slice(PREFIX.length) || '/' : url.pathname;
    const method = request.method ?? 'GET';
    try {
      const refusal = originRefusal(request.headers.origin, deps.config.allowedOrigins, deps.auth.developmentMode);
      if (refusal) return send(response, { status: refusal.status, body: { error: refusal.error } });
      if (method === 'OPTIONS') return send(response, { status: 204 });
      if (method === 'GET' && path === '/healthcheck') return sendText(response, 200, 'ok');
      if (method === 'GET' && path === '/api/ping') return send(response, { status: 200, body: { message: 'Success' } });
      if (method === 'GET' && path === '/ready') {
        return (await ready())
          ? send(response, { status: 200, body: { status: 'ready' } })
          : send(response, { status: 503, body: { status: 'unavailable', error: 'the database is unreachable' } });
      }
      if (method === 'GET' && (path === '/metrics' || path === '/metrics/workers')) {
        const text = await metricsText(deps.metrics.registry, path === '/metrics' ? 'server' : 'per-worker');
        response.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
        response.end(text);
        return;
      }
      if (method === 'GET' && path.startsWith('/inspector') && (await inspectorRoute(deps, request, response, path, joinedChannels))) return;
      if (method !== 'GET' && deps.shuttingDown) return send(response, { status: 503, body: { message: 'Realtime is restarting, please standby' } });
      if (method === 'POST' && GRAPHQL_PATHS.includes(path.replace(/\/+$/, ''))) {
        const body = await readBody(request, deps.config.limits.maxFrameBytes);
        if (!body) return send(response, tooLarge());
        return send(response, await graphql.answerHttp(request, body));
      }
      if (method === 'POST' && path === '/api/broadcast') {
        const body = await readBody(request, deps.config.limits.maxPayloadBytes * 10 + MAX_BODY_BYTES_SLACK);
        if (!body) return send(response, tooLarge());
        return send(response, await batchBroadcast(deps, request, body));
      }
      const single = method === 'POST' ? path.match(/^\/api\/broadcast\/([^/]+)\/events\/([^/]+)$/) : null;
      if (single) {
        const body = await readBody(request, deps.config.limits.maxPayloadBytes + MAX_BODY_BYTES_SLACK);
        const [topic, event] = [decode(single[1]), decode(single[2])];
        if (topic === undefined || event === undefined) return send(response, { status: 400, body: { error: 'topic and event must be URL-encoded' } });
        if (!body) return send(response, tooLarge());
        return send(response, await singleBroadcast(deps, request, body, topic, event, url.searchParams));
      }
      const history = method === 'GET' ? path.match(HISTORY_PATH) : null;
      if (history) {
        const channel = decode(history[1]);
        if (channel === undefined) return send(response, { status: 400, body: { error: 'the channel must be URL-encoded' } });
        return send(response, await channelHistory(deps, request, channel, url.searchParams));
      }
      const channelRoute = method === 'DELETE' || method === 'PATCH' ? path.match(CHANNEL_PATH) : null;
      if (channelRoute) {
        const channel = decode(channelRoute[1]);
        if (channel === undefined) return send(response, { status: 400, body: { error: 'the channel must be URL-encoded' } });
        if (method === 'DELETE') return send(response, await deleteChannel(deps, request, channel));
        const body = await readBody(request, MAX_BODY_BYTES_SLACK);
        if (!body) return send(response, tooLarge());
        return send(response, await patchChannel(deps, request, channel, body));
      }
      const message = method === 'DELETE' ? path.match(MESSAGE_PATH) : null;
      if (message) {
        const [channel, offset] = [decode(message[1]), decode(message[2])];
        if (channel === undefined || offset === undefined) return send(response, { status: 400, body: { error: 'the channel and offset must be URL-encoded' } });
        return send(response, await deleteMessage(deps, request, channel, offset));
      }
      const member = method === 'DELETE' || method === 'PUT' ? path.match(MEMBER_PATH) : null;
      if (member) {
        const [channel, userId] = [decode(member[1]), decode(member[2])];
        if (channel === undefined || userId === undefined) return send(response, { status: 400, body: { error: 'the channel and user must be URL-encoded' } });
        if (method === 'DELETE') return send(response, await removeMember(deps, request, channel, userId));
        const body = await readBody(request, MAX_BODY_BYTES_SLACK);
        if (!body) return send(response, tooLarge());
        return send(response, await putMember(deps, request, channel, userId, body));
      }
      return send(response, { status: 404, body: { error: `no route for ${method} ${url.pathname}` } });
    } catch (error) {
      deps.logger.error({ code: LogCode.httpRequestFailed, err: error, path }, 'HTTP request failed');
      if (!response.headersSent) send(response, { status: 500, body: { error: 'internal error' } });
    }
  };
}

function send(response: ServerResponse, answer: RestAnswer): void {
  const headers: Record<string, string> = { ...CORS };
  if (answer.body !== undefined) headers['content-type'] = 'application/json';
  response.writeHead(answer.status, headers);
  response.end(answer.body === undefined ? undefined : stringifyExact(answer.body));
}

function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { ...CORS, 'content-type': 'text/plain' });
  response.end(text);
}

function tooLarge(): RestAnswer {
  return { status: 413, body: { error: 'request body is too large' } };
}

function decode(segment: string | undefined): string | undefined {
  try {
    return segment === undefined ? undefined : decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Reads a request body up to `limit` bytes; undefined when it is larger. */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      else chunks.push(chunk);
    });
    request.on('end', () => resolve(over ? undefined : Buffer.concat(chunks)));
    request.on('error', reject);
  });
}
