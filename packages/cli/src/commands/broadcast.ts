// `nself realtime broadcast|messages|replay|events`: send to a channel's log and read it back.
import type { Command } from 'commander';
import type { Message } from '@nself/db';
import { readSetting, UserError } from '@nself/db/values';
import { asListing, missingArgument, parseJsonObjectArgument, parseNumberArgument, readStandardInput, resolveOutput, withExamples, type OutputOptions } from '../args.js';
import { database, databaseOperations } from '../context.js';
import { printRows, say, type Row } from '../output.js';

const MESSAGE_COLUMNS = ['offset', 'event_type', 'sender', 'payload', 'sent_at'];
const EVENT_COLUMNS = ['event_type', 'count', 'last_sent'];
const DEFAULT_LIMIT = 50;
const DEFAULT_EVENT_HOURS = 24;

/** Registers `broadcast` (with its `broadcast cleanup` form), `messages`, `replay` and `events`. */
export function registerBroadcastCommands(realtime: Command): void {
  const broadcast = withExamples(
    realtime
      .command('broadcast')
      .description('Send a message to a channel: it is stored with the next offset and announced with NOTIFY')
      .usage('<channel> <event> <payload-json> [sender]  (or: cleanup [hours=24])')
      .argument('<channel>', 'channel slug or id')
      .argument('[event]', 'event name, e.g. user.joined')
      .argument('[payload-json]', 'a JSON object; "-" reads it from standard input')
      .argument('[sender]', 'user id of the sender'),
    [
      `nself realtime broadcast general user.joined '{"user_id": "123"}'`,
      `nself realtime broadcast general message.sent '{"text": "Hello"}' user-123`,
      'nself realtime broadcast general file.shared - < payload.json',
      'nself realtime broadcast cleanup 48',
    ],
  ).addHelpText(
    'after',
    `"broadcast cleanup [hours]" deletes messages older than hours (default REALTIME_RETENTION_HOURS, else 24;
a channel's own {"retention_hours": n} metadata wins). It is the
cleanup form only when "cleanup" is followed by at most one argument, so a channel named "cleanup"
still takes messages: nself realtime broadcast cleanup some.event '{}'
`,
  );
  broadcast.action(async (target: string, event: string | undefined, payloadText: string | undefined, sender: string | undefined) => {
    if (target === 'cleanup' && payloadText === undefined) {
      await cleanupMessages(event);
      return;
    }
    if (event === undefined) throw missingArgument(broadcast, 'event');
    if (payloadText === undefined) throw missingArgument(broadcast, 'payload-json');
    const payload = parseJsonObjectArgument(payloadText === '-' ? await readStandardInput() : payloadText, 'payload');
    checkPayloadSize(payload);
    const db = await database();
    const { appendMessage, requireChannel } = await databaseOperations();
    const channel = await requireChannel(db, target);
    const message = await appendMessage(db, { channelId: channel.id, event, payload, sender: sender ?? null });
    say(`Broadcast ${message.event} to channel "${channel.slug}" at offset ${message.offset} (message ${message.id}).\n`);
  });

  asListing(
    realtime
      .command('messages')
      .description(`Show the newest messages of a channel (default ${DEFAULT_LIMIT}), oldest first`)
      .argument('<channel>', 'channel slug or id')
      .argument('[limit]', 'how many messages', String(DEFAULT_LIMIT)),
    ['nself realtime messages general', 'nself realtime messages general 100', 'nself realtime messages general 50 json'],
  ).action(async (idOrSlug: string, limitArg: string, jsonWord: string | undefined, options: OutputOptions) => {
    const {
      args: [limitText],
      format,
    } = resolveOutput([limitArg, jsonWord], options);
    const limit = parseNumberArgument(limitText ?? String(DEFAULT_LIMIT), 'limit', { min: 1, integer: true });
    const db = await database();
    const { readLogPage, requireChannel } = await databaseOperations();
    const channel = await requireChannel(db, idOrSlug);
    await printRows(
      format,
      MESSAGE_COLUMNS,
      (await readLogPage(db, channel.id, { from: 'newest', limit })).messages.map((m) => messageRow(m, channel.slug)),
    );
  });

  const replay = asListing(
    realtime
      .command('replay')
      .description('Replay the messages of a channel sent since a time, in offset order')
      .argument('<channel>', 'channel slug or id')
      .argument('[since]', 'unix seconds, unix milliseconds or ISO 8601 (UTC when no zone is given)')
      .option('--after <offset>', 'only messages after this offset (resume where a reader left off)')
      .option('--limit <n>', 'at most this many messages'),
    [
      'nself realtime replay general 1643723400',
      'nself realtime replay general "2026-01-30T10:00:00Z"',
      'nself realtime replay general 1643723400 json',
      'nself realtime replay general --after 120 --limit 500',
    ],
  );
  replay.action(async (idOrSlug: string, sinceArg: string | undefined, jsonWord: string | undefined, options: OutputOptions & { after?: string; limit?: string }) => {
    const {
      args: [sinceText],
      format,
    } = resolveOutput([sinceArg, jsonWord], options);
    if (sinceText === undefined && options.after === undefined) throw missingArgument(replay, 'since');
    const { parseTimestamp, readLogPage, requireChannel } = await databaseOperations();
    const since = sinceText === undefined ? undefined : parseTimestamp(sinceText);
    const afterOffset = options.after === undefined ? undefined : parseNumberArgument(options.after, '--after', { min: 0, integer: true });
    const limit = options.limit === undefined ? undefined : parseNumberArgument(options.limit, '--limit', { min: 1, integer: true });
    const db = await database();
    const channel = await requireChannel(db, idOrSlug);
    const { messages } = await readLogPage(db, channel.id, { since, afterOffset, limit });
    await printRows(
      format,
      MESSAGE_COLUMNS,
      messages.map((m) => messageRow(m, channel.slug)),
    );
  });

  asListing(
    realtime
      .command('events')
      .description(`List the event types sent in a channel during the last hours (default ${DEFAULT_EVENT_HOURS})`)
      .argument('<channel>', 'channel slug or id')
      .argument('[hours]', 'how far back to look', String(DEFAULT_EVENT_HOURS)),
    ['nself realtime events general', 'nself realtime events general 48'],
  ).action(async (idOrSlug: string, hoursArg: string, jsonWord: string | undefined, options: OutputOptions) => {
    const {
      args: [hoursText],
      format,
    } = resolveOutput([hoursArg, jsonWord], options);
    const hours = parseNumberArgument(hoursText ?? String(DEFAULT_EVENT_HOURS), 'hours', { min: 0 });
    const db = await database();
    const { eventCounts, requireChannel } = await databaseOperations();
    const channel = await requireChannel(db, idOrSlug);
    const counts = await eventCounts(db, channel.id, hours);
    await printRows(
      format,
      EVENT_COLUMNS,
      counts.map((count) => ({ event_type: count.event, count: count.count, last_sent: count.lastSentAt })),
    );
  });
}

/** `broadcast cleanup [hours]`: trims the channel logs only. */
async function cleanupMessages(hoursText: string | undefined): Promise<void> {
  const hours = hoursText === undefined ? readSetting(process.env, 'REALTIME_RETENTION_HOURS') : parseNumberArgument(hoursText, 'hours', { min: 0 });
  const { trimChannelLogs } = await databaseOperations();
  const deleted = await trimChannelLogs(await database(), hours);
  say(`Deleted ${deleted} ${deleted === 1 ? 'message' : 'messages'} older than ${hours} hours.\n`);
}

/** A message as `messages` and `replay` print it: the table's columns, then the extra JSON fields. */
function messageRow(message: Message, channel: string): Row {
  return {
    offset: message.offset,
    event_type: message.event,
    sender: message.sender,
    payload: message.payload ?? (message.payloadBinary ? `(binary, ${message.payloadBinary.length} bytes)` : null),
    sent_at: message.sentAt,
    id: message.id,
    channel,
    ...(message.payloadBinary ? { payload_binary: message.payloadBinary.toString('base64') } : {}),
  };
}

/** Refuses a payload the server would refuse (REALTIME_MAX_PAYLOAD_BYTES), before anything is stored. */
function checkPayloadSize(payload: unknown): void {
  const size = Buffer.byteLength(JSON.stringify(payload));
  const limit = readSetting(process.env, 'REALTIME_MAX_PAYLOAD_BYTES');
  if (size > limit) {
    throw new UserError(`payload is ${size} bytes, over the limit of ${limit} bytes (REALTIME_MAX_PAYLOAD_BYTES); nothing was stored`);
  }
}
