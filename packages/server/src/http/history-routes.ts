// REST history: GET /api/channels/:channel/messages reads a channel's log by offset or time, one page at a time.
import type { IncomingMessage } from 'node:http';
import { findChannel, isUserError, parseTimestamp, readBoundedLogPage, type Message as StoredMessage } from '@nself/db';
import { JoinError, RestError, type HistoryMessage, type HistoryPageBody } from '@nself/protocol';
import { mayReadMessages, type AccessCheckDeps } from '../channel/channel-access.js';
import type { Authenticator } from '../auth/auth.js';
import { HISTORY_PAGE_BYTES, type HistoryReads } from '../broadcast/history-reads.js';
import { authenticate } from '../auth/request-identity.js';
import type { RestAnswer } from './rest-json.js';

/** Who may read (the token's check and the channel's access), and the turns that reads of history take. */
export interface HistoryRouteDeps extends AccessCheckDeps {
  readonly auth: Pick<Authenticator, 'verify'>;
  readonly history: Pick<HistoryReads, 'run'>;
}

/** Page size when `limit` is not given, and the largest one accepted. */
const HISTORY_PAGE = { default: 100, max: 1000 } as const;

/** The route's path: the channel's slug, name or id, URL-encoded. */
export const HISTORY_PATH = /^\/api\/channels\/([^/]+)\/messages$/;

/**
 * Answers `GET /api/channels/:channel/messages?after=<offset>&since=<time>&limit=<n>`: the channel's
 * messages after `after` and sent at or after `since`, oldest first, at most `limit` and ending with
 * the message whose payload brings the page to HISTORY_PAGE_BYTES, with `next_after` to read the next
 * page (null at the end) and the log's `earliest_offset` and `latest_offset`. Private channels answer
 * those a join would admit: members, the service role, and roles the policies let read broadcasts. Reads take turns with the server's other history reads.
 */
export async function channelHistory(deps: HistoryRouteDeps, request: IncomingMessage, channelName: string, query: URLSearchParams): Promise<RestAnswer> {
  const identity = await authenticate(deps, request);
  if (!identity) return RestError.unauthorized;
  const params = readParams(query);
  if ('error' in params) return { status: 422, body: { error: params.error } };
  const channel = await findChannel(deps.pool, channelName);
  if (!channel) return { status: 404, body: { error: `no channel "${channelName}"; give its name, slug or id` } };
  if (!(await mayReadMessages(deps, channel, identity))) return { status: 403, body: { error: JoinError.unauthorized(channelName) } };
  const page = await deps.history.run(() =>
    readBoundedLogPage(deps.pool, channel.id, { afterOffset: params.after, since: params.since, limit: params.limit, maxBytes: HISTORY_PAGE_BYTES }),
  );
  // The bounds are of the page's snapshot, so a page that ends below `latest` (at its limit or its bytes) always has a next page.
  const last = page.messages.at(-1)?.offset;
  const body: HistoryPageBody = {
    channel: channel.slug,
    messages: page.messages.map(messageBody),
    next_after: page.full && last !== undefined && last < page.latest ? last : null,
    earliest_offset: page.earliest,
    latest_offset: page.latest,
    // Explicit when messages right after `after` were deleted by retention: nothing is skipped silently.
    ...(params.after !== undefined ? { recovered: params.after + 1 >= page.earliest || params.after >= page.latest } : {}),
  };
  return { status: 200, body };
}

function readParams(query: URLSearchParams): { after?: number; since?: Date; limit: number } | { error: string } {
  const afterText = query.get('after');
  const sinceText = query.get('since');
  const limitText = query.get('limit');
  const after = afterText === null ? undefined : wholeNumber(afterText, 0);
  if (after === null) return { error: `after must be an offset: a whole number of 0 or more, got "${afterText}"` };
  const limit = limitText === null ? HISTORY_PAGE.default : wholeNumber(limitText, 1);
  if (limit === null || limit > HISTORY_PAGE.max) return { error: `limit must be a whole number from 1 to ${HISTORY_PAGE.max}, got "${limitText}"` };
  let since: Date | undefined;
  try {
    since = sinceText === null ? undefined : parseTimestamp(sinceText);
  } catch (error) {
    if (isUserError(error)) return { error: `since: ${error.message}` };
    throw error;
  }
  return { ...(after !== undefined ? { after } : {}), ...(since ? { since } : {}), limit };
}

function wholeNumber(text: string, min: number): number | null {
  if (!/^\d{1,15}$/.test(text)) return null;
  const value = Number(text);
  return value >= min ? value : null;
}

function messageBody(message: StoredMessage): HistoryMessage {
  return {
    id: message.id,
    offset: message.offset,
    event: message.event,
    payload: message.payload,
    ...(message.payloadBinary ? { payload_binary: message.payloadBinary.toString('base64') } : {}),
    sender: message.sender,
    sent_at: message.sentAt.toISOString(),
  };
}
