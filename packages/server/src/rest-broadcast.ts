// REST broadcasts: POST /api/broadcast (batch) and POST /api/broadcast/:topic/events/:event (one), answered 202.
import type { IncomingMessage } from 'node:http';
import { eventNameProblem } from '@nself/db';
import { isJsonObject, RestError } from '@nself/protocol';
import { TokenError, type Identity } from './auth.js';
import { mayAccess, resolveChannel } from './channel-access.js';
import type { ServerContext } from './context.js';

/** An HTTP answer: status, and a JSON body or none. */
export interface RestAnswer {
  readonly status: number;
  readonly body?: unknown;
}

interface Outgoing {
  readonly topic: string;
  readonly event: string;
  readonly payload: unknown;
  readonly binary: Buffer | null;
  readonly private: boolean;
}

/** Handles `POST /api/broadcast` with `{"messages":[{topic, event, payload, private?}]}`. */
export async function batchBroadcast(ctx: ServerContext, request: IncomingMessage, body: Buffer): Promise<RestAnswer> {
  const identity = await authenticate(ctx, request);
  if (!identity) return RestError.unauthorized;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8') || '{}');
  } catch {
    return invalid('body', 'must be JSON like {"messages":[{"topic":"room1","event":"hello","payload":{}}]}');
  }
  const messages = isJsonObject(parsed) ? parsed['messages'] : undefined;
  if (!Array.isArray(messages) || messages.length === 0) return invalid('messages', 'must be a non-empty list of {topic, event, payload}');
  const outgoing: Outgoing[] = [];
  for (const [index, entry] of messages.entries()) {
    if (!isJsonObject(entry) || typeof entry['topic'] !== 'string' || typeof entry['event'] !== 'string' || entry['event'] === '') {
      return invalid(`messages[${index}]`, 'needs a string topic and a non-empty string event');
    }
    outgoing.push({ topic: entry['topic'], event: entry['event'], payload: entry['payload'] ?? {}, binary: null, private: entry['private'] === true });
  }
  return deliver(ctx, identity, outgoing);
}

/** Handles `POST /api/broadcast/:topic/events/:event` with a JSON or binary body. */
export async function singleBroadcast(ctx: ServerContext, request: IncomingMessage, body: Buffer, topic: string, event: string, query: URLSearchParams): Promise<RestAnswer> {
  const identity = await authenticate(ctx, request);
  if (!identity) return RestError.unauthorized;
  const type = (request.headers['content-type'] ?? 'application/json').split(';')[0]?.trim().toLowerCase();
  let payload: unknown = null;
  let binary: Buffer | null = null;
  if (type === 'application/octet-stream') {
    binary = body;
  } else if (type === 'application/json' || type === '') {
    try {
      payload = JSON.parse(body.toString('utf8') || '{}');
    } catch {
      return invalid('payload', 'must be JSON');
    }
  } else {
    return RestError.unsupportedMediaType;
  }
  if (event === '') return invalid('event', 'must not be empty');
  return deliver(ctx, identity, [{ topic, event, payload, binary, private: query.get('private') === 'true' }]);
}

async function deliver(ctx: ServerContext, identity: Identity, outgoing: readonly Outgoing[]): Promise<RestAnswer> {
  for (const message of outgoing) {
    const eventProblem = eventNameProblem(message.event);
    if (eventProblem) return invalid('event', eventProblem);
    const size = message.binary ? message.binary.length : Buffer.byteLength(JSON.stringify(message.payload));
    if (size > ctx.config.limits.maxPayloadBytes) return RestError.payloadTooLarge;
  }
  for (const message of outgoing) {
    const lookup = await resolveChannel(ctx, message.topic, identity, message.private);
    if (lookup.kind === 'invalid') return invalid('topic', `"${message.topic}" is not a valid channel name`);
    // Private messages the token may not send are dropped silently (still 202), as Supabase does.
    if (lookup.kind === 'unauthorized' || !(await mayAccess(ctx, lookup.channel, identity))) continue;
    await ctx.broadcasts.send({
      channelId: lookup.channel.id, event: message.event, payload: message.payload, binary: message.binary, sender: identity.userId,
    });
  }
  return { status: 202 };
}

/** The caller's identity from `Authorization: Bearer`, else the `apikey` header or query; undefined when refused. */
export async function authenticate(ctx: ServerContext, request: IncomingMessage): Promise<Identity | undefined> {
  const bearer = request.headers.authorization?.match(/^Bearer\s+(.+)$/i)?.[1];
  const apikey = headerValue(request.headers['apikey']) ?? new URL(request.url ?? '/', 'http://localhost').searchParams.get('apikey') ?? undefined;
  const token = [bearer, apikey].find((value) => value && !value.startsWith('sb_'));
  try {
    return await ctx.auth.verify(token);
  } catch (error) {
    if (error instanceof TokenError) return undefined;
    throw error;
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function invalid(field: string, problem: string): RestAnswer {
  return { status: 422, body: { errors: { [field]: [problem] } } };
}
