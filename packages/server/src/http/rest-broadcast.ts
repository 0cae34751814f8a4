// REST broadcasts: POST /api/broadcast (batch) and POST /api/broadcast/:topic/events/:event (one), answered 202.
//
// A request is all or nothing: every message is checked (channel name, event, payload) before any
// channel is created or any message stored, a bad one is answered 422 naming it, and the messages
// are then stored in one transaction. Callers are rate limited per token user (per address when
// anonymous), a batch has a size limit, and one request creates only a few channels.
import type { IncomingMessage } from 'node:http';
import { checkEventName, checkTopic, isPayloadOverLimit, isUserError } from '@nself/db';
import { isJsonObject, RestError } from '@nself/protocol';
import type { Identity } from '../auth/auth.js';
import { authenticate } from '../auth/request-identity.js';
import type { BroadcastFeed, OutgoingBroadcast } from '../broadcast/broadcast-feed.js';
import { resolveChannel, type ChannelLookupDeps } from '../channel/channel-access.js';
import type { Authenticator } from '../auth/auth.js';
import type { CallerRates } from '../caller-rates.js';
import type { ServerConfig } from '../config.js';
import { refusedJsonBody, type RestAnswer } from './rest-json.js';

/** Who may call (the token's check), and what a REST broadcast is checked against, limited by and stored in. */
export interface RestBroadcastDeps extends ChannelLookupDeps {
  readonly config: Pick<ServerConfig, 'limits'>;
  readonly auth: Pick<Authenticator, 'verify' | 'developmentMode'>;
  /** REST broadcast messages per caller per second. */
  readonly restRates: Pick<CallerRates, 'take'>;
  readonly broadcasts: Pick<BroadcastFeed, 'sendAll'>;
}

interface Outgoing {
  /** How problems name this message's fields: `messages[1].` in a batch, nothing for a single message. */
  readonly at: string;
  readonly topic: string;
  readonly event: string;
  readonly payload: unknown;
  readonly binary: Buffer | null;
  readonly private: boolean;
}

/** What is wrong with a request, per field (`messages[1].topic`), in the shape of Supabase's 422 bodies. */
type Problems = Record<string, string[]>;

/** Supabase's answers to a batch over the limit and to a caller over its rate. */
const TOO_MANY_MESSAGES = 'Too many messages to broadcast, please reduce the batch size';
const RATE_EXCEEDED = 'You have exceeded your rate limit';

/** Handles `POST /api/broadcast` with `{"messages":[{topic, event, payload, private?}]}`. */
export async function batchBroadcast(deps: RestBroadcastDeps, request: IncomingMessage, body: Buffer): Promise<RestAnswer> {
  const identity = await authenticate(deps, request);
  if (!identity) return RestError.unauthorized;
  const refused = refusedJsonBody(deps, request, body, '');
  if (refused) return refused;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8') || '{}');
  } catch {
    return invalid({ body: ['must be JSON like {"messages":[{"topic":"room1","event":"hello","payload":{}}]}'] });
  }
  const messages = isJsonObject(parsed) ? parsed['messages'] : undefined;
  if (!Array.isArray(messages) || messages.length === 0) return invalid({ messages: ['must be a non-empty list of {topic, event, payload}'] });
  const { maxBatchMessages } = deps.config.limits;
  if (messages.length > maxBatchMessages) {
    return { status: 429, body: { message: TOO_MANY_MESSAGES, max_messages: maxBatchMessages } };
  }
  const problems: Problems = {};
  const outgoing: Outgoing[] = [];
  for (const [index, entry] of messages.entries()) {
    if (!isJsonObject(entry)) {
      problems[`messages[${index}]`] = ['must be an object like {"topic":"room1","event":"hello","payload":{}}'];
      continue;
    }
    const topic = entry['topic'];
    const event = entry['event'];
    if (typeof topic !== 'string') problems[`messages[${index}].topic`] = ['must be a string: the channel name'];
    if (typeof event !== 'string' || event === '') problems[`messages[${index}].event`] = ['must be a non-empty string'];
    if (typeof topic !== 'string' || typeof event !== 'string' || event === '') continue;
    outgoing.push({ at: `messages[${index}].`, topic, event, payload: entry['payload'] ?? {}, binary: null, private: entry['private'] === true });
  }
  return deliver(deps, request, identity, outgoing, problems);
}

/** Handles `POST /api/broadcast/:topic/events/:event` with a JSON or binary body. */
export async function singleBroadcast(deps: RestBroadcastDeps, request: IncomingMessage, body: Buffer, topic: string, event: string, query: URLSearchParams): Promise<RestAnswer> {
  const identity = await authenticate(deps, request);
  if (!identity) return RestError.unauthorized;
  const refused = refusedJsonBody(deps, request, body, 'payload');
  if (refused) return refused;
  const type = (request.headers['content-type'] ?? 'application/json').split(';')[0]?.trim().toLowerCase();
  let payload: unknown = null;
  let binary: Buffer | null = null;
  if (type === 'application/octet-stream') {
    binary = body;
  } else if (type === 'application/json' || type === '') {
    try {
      payload = JSON.parse(body.toString('utf8') || '{}') ?? {};
    } catch {
      return invalid({ payload: ['must be JSON'] });
    }
  } else {
    return RestError.unsupportedMediaType;
  }
  if (event === '') return invalid({ event: ['must not be empty'] });
  return deliver(deps, request, identity, [{ at: '', topic, event, payload, binary, private: query.get('private') === 'true' }], {});
}

/**
 * Checks the caller's rate, every message (adding to the `problems` found while reading the request),
 * then the channels the request would create; only when all pass are the channels created and the
 * messages stored, in one transaction.
 */
async function deliver(deps: RestBroadcastDeps, request: IncomingMessage, identity: Identity, outgoing: readonly Outgoing[], problems: Problems): Promise<RestAnswer> {
  const { limits } = deps.config;
  // Development mode reads tokens without checking them, so their user is no one's to count by there.
  const anonymous = identity.userId === null || deps.auth.developmentMode;
  const caller = anonymous ? `address:${request.socket.remoteAddress ?? ''}` : `user:${identity.userId}`;
  if (!deps.restRates.take(caller, Math.max(1, outgoing.length))) {
    return { status: 429, body: { message: RATE_EXCEEDED, max_messages_per_second: limits.maxRestMessagesPerSecond } };
  }
  const slugs = outgoing.map((message) => {
    const found = messageProblems(deps, message);
    for (const [name, problem] of Object.entries(found)) problems[`${message.at}${name}`] = [problem];
    return found['topic'] === undefined ? message.topic : undefined;
  });
  if (Object.keys(problems).length > 0) return invalid(problems);

  const wanted = [...new Set(slugs.filter((slug, index): slug is string => slug !== undefined && !outgoing[index]?.private))];
  const existing = await Promise.all(wanted.map((slug) => deps.channels.find(slug)));
  const missing = wanted.filter((_slug, index) => existing[index] === null);
  if (missing.length > limits.maxRestNewChannels) {
    return invalid({
      messages: [
        `would create ${missing.length} channels that do not exist; one request may create at most ${limits.maxRestNewChannels} ` +
          '(create channels with `nself realtime channel create`, or send in smaller requests)',
      ],
    });
  }

  const toStore: OutgoingBroadcast[] = [];
  for (const message of outgoing) {
    const lookup = await resolveChannel(deps, message.topic, identity, message.private, 'send');
    if (lookup.kind === 'invalid') return invalid({ [`${message.at}topic`]: [`"${message.topic}" is not a valid channel name`] });
    // Private messages the token may not send are dropped silently (still 202), as Supabase does.
    if (lookup.kind === 'unauthorized') continue;
    toStore.push({ channelId: lookup.channel.id, event: message.event, payload: message.payload, binary: message.binary, sender: identity.userId });
  }
  if (toStore.length === 0) return { status: 202 };
  try {
    await deps.broadcasts.sendAll(toStore);
  } catch (error) {
    if (isPayloadOverLimit(error)) return RestError.payloadTooLarge;
    throw error;
  }
  return { status: 202 };
}

/** What is wrong with one message, by field (`topic`, `event`, `payload`); empty when it can be stored. */
function messageProblems(deps: RestBroadcastDeps, message: Outgoing): Record<string, string> {
  const problems: Record<string, string> = {};
  const topicProblem = userErrorOf(() => checkTopic(message.topic));
  if (topicProblem) problems['topic'] = topicProblem;
  const eventProblem = userErrorOf(() => checkEventName(message.event));
  if (eventProblem) problems['event'] = eventProblem;
  if (message.binary) {
    if (message.binary.length > deps.config.limits.maxPayloadBytes) problems['payload'] = RestError.payloadTooLarge.body.errors.payload[0];
    return problems;
  }
  if (Buffer.byteLength(JSON.stringify(message.payload)) > deps.config.limits.maxPayloadBytes) problems['payload'] = RestError.payloadTooLarge.body.errors.payload[0];
  return problems;
}

/** The message of the UserError `check` throws, or undefined when it passes. */
function userErrorOf(check: () => unknown): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    if (isUserError(error)) return error.message;
    throw error;
  }
}

function invalid(problems: Problems): RestAnswer {
  return { status: 422, body: { errors: problems } };
}
