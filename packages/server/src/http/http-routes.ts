// HTTP routes: health, ping, readiness, metrics, GraphQL queries, REST broadcast, channel history and moderation, also under the /realtime/v1 prefix, with CORS.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from '../context.js';
import { GRAPHQL_PATHS, type GraphQLService } from '../graphql/graphql-service.js';
import { channelHistory, HISTORY_PATH } from './history-routes.js';
import { CHANNEL_PATH, deleteChannel, deleteMessage, MEMBER_PATH, MESSAGE_PATH, patchChannel, putMember, removeMember } from './moderation-routes.js';
import { originRefusal } from '../socket/origin-policy.js';
import { batchBroadcast, singleBroadcast } from './rest-broadcast.js';
import type { RestAnswer } from './rest-json.js';
import { LogCode } from '../log-codes.js';

const PREFIX = '/realtime/v1';
const MAX_BODY_BYTES_SLACK = 64 * 1024;
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
  'access-control-allow-headers': 'authorization, apikey, x-api-key, content-type, x-client-info, x-hasura-role, x-hasura-admin-secret',
  'access-control-max-age': '86400',
};

/** Builds the request handler of the HTTP server. `ready()` tells whether the database answers. */
export function createRoutes(ctx: ServerContext, ready: () => Promise<boolean>, graphql: GraphQLService) {
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const path = url.pathname.startsWith(PREFIX) ? url.pathname.slice(PREFIX.length) || '/' : url.pathname;
    const method = request.method ?? 'GET';
    try {
      const refusal = originRefusal(request.headers.origin, ctx.config.allowedOrigins, ctx.auth.developmentMode);
      if (refusal) return send(response, { status: refusal.status, body: { error: refusal.error } });
      if (method === 'OPTIONS') return send(response, { status: 204 });
      if (method === 'GET' && path === '/healthcheck') return sendText(response, 200, 'ok');
      if (method === 'GET' && path === '/api/ping') return send(response, { status: 200, body: { message: 'Success' } });
      if (method === 'GET' && path === '/ready') {
        return (await ready())
          ? send(response, { status: 200, body: { status: 'ready' } })
          : send(response, { status: 503, body: { status: 'unavailable', error: 'the database is unreachable' } });
      }
      if (method === 'GET' && path === '/metrics') {
        response.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
        response.end(await ctx.metrics.registry.metrics());
        return;
      }
      if (method !== 'GET' && ctx.shuttingDown) return send(response, { status: 503, body: { message: 'Realtime is restarting, please standby' } });
      if (method === 'POST' && GRAPHQL_PATHS.includes(path.replace(/\/+$/, ''))) {
        const body = await readBody(request, ctx.config.limits.maxFrameBytes);
        if (!body) return send(response, tooLarge());
        return send(response, await graphql.answerHttp(request, body));
      }
      if (method === 'POST' && path === '/api/broadcast') {
        const body = await readBody(request, ctx.config.limits.maxPayloadBytes * 10 + MAX_BODY_BYTES_SLACK);
        if (!body) return send(response, tooLarge());
        return send(response, await batchBroadcast(ctx, request, body));
      }
      const single = method === 'POST' ? path.match(/^\/api\/broadcast\/([^/]+)\/events\/([^/]+)$/) : null;
      if (single) {
        const body = await readBody(request, ctx.config.limits.maxPayloadBytes + MAX_BODY_BYTES_SLACK);
        const [topic, event] = [decode(single[1]), decode(single[2])];
        if (topic === undefined || event === undefined) return send(response, { status: 400, body: { error: 'topic and event must be URL-encoded' } });
        if (!body) return send(response, tooLarge());
        return send(response, await singleBroadcast(ctx, request, body, topic, event, url.searchParams));
      }
      const history = method === 'GET' ? path.match(HISTORY_PATH) : null;
      if (history) {
        const channel = decode(history[1]);
        if (channel === undefined) return send(response, { status: 400, body: { error: 'the channel must be URL-encoded' } });
        return send(response, await channelHistory(ctx, request, channel, url.searchParams));
      }
      const channelRoute = method === 'DELETE' || method === 'PATCH' ? path.match(CHANNEL_PATH) : null;
      if (channelRoute) {
        const channel = decode(channelRoute[1]);
        if (channel === undefined) return send(response, { status: 400, body: { error: 'the channel must be URL-encoded' } });
        if (method === 'DELETE') return send(response, await deleteChannel(ctx, request, channel));
        const body = await readBody(request, MAX_BODY_BYTES_SLACK);
        if (!body) return send(response, tooLarge());
        return send(response, await patchChannel(ctx, request, channel, body));
      }
      const message = method === 'DELETE' ? path.match(MESSAGE_PATH) : null;
      if (message) {
        const [channel, offset] = [decode(message[1]), decode(message[2])];
        if (channel === undefined || offset === undefined) return send(response, { status: 400, body: { error: 'the channel and offset must be URL-encoded' } });
        return send(response, await deleteMessage(ctx, request, channel, offset));
      }
      const member = method === 'DELETE' || method === 'PUT' ? path.match(MEMBER_PATH) : null;
      if (member) {
        const [channel, userId] = [decode(member[1]), decode(member[2])];
        if (channel === undefined || userId === undefined) return send(response, { status: 400, body: { error: 'the channel and user must be URL-encoded' } });
        if (method === 'DELETE') return send(response, await removeMember(ctx, request, channel, userId));
        const body = await readBody(request, MAX_BODY_BYTES_SLACK);
        if (!body) return send(response, tooLarge());
        return send(response, await putMember(ctx, request, channel, userId, body));
      }
      return send(response, { status: 404, body: { error: `no route for ${method} ${url.pathname}` } });
    } catch (error) {
      ctx.logger.error({ code: LogCode.httpRequestFailed, err: error, path }, 'HTTP request failed');
      if (!response.headersSent) send(response, { status: 500, body: { error: 'internal error' } });
    }
  };
}

function send(response: ServerResponse, answer: RestAnswer): void {
  const headers: Record<string, string> = { ...CORS };
  if (answer.body !== undefined) headers['content-type'] = 'application/json';
  response.writeHead(answer.status, headers);
  response.end(answer.body === undefined ? undefined : JSON.stringify(answer.body));
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
