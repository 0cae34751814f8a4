// `nself realtime presence …`: track, query and clean up who is online, away or offline.
import type { Command } from 'commander';
import type { Channel, Presence, Queryable } from '@nself/db';
import { PRESENCE_STATUSES, checkChoice, readSetting, SETTINGS, UserError } from '@nself/db/values';
import { asListing, parseJsonObjectArgument, parseNumberArgument, resolveOutput, withExamples, type OutputOptions } from '../args.js';
import { database, databaseOperations } from '../context.js';
import { printRows, renderJson, say, type Row } from '../output.js';

const PRESENCE_COLUMNS = ['user_id', 'channel', 'status', 'metadata', 'last_seen_at', 'seconds_ago'];
const STATS_COLUMNS = ['online', 'away', 'offline', 'total_users', 'total_channels'];
/** The channel argument of `presence track` that stands for the user's global presence. */
const GLOBAL = '-';

/** Registers `presence track|get|online|count|offline|stats|cleanup`. */
export function registerPresenceCommands(realtime: Command): void {
  const presence = withExamples(realtime.command('presence').description('Track and query user presence (online, away, offline) per channel or globally'), [
    'nself realtime presence track user-123 general online',
    'nself realtime presence online general',
    'nself realtime presence stats',
  ]);

  withExamples(
    presence
      .command('track')
      .description('Record a user\'s status in a channel, or globally when the channel is omitted or "-"')
      .argument('<user>', 'user id, e.g. user-123')
      .argument('[channel]', 'channel slug or id; omit or "-" for global presence')
      .argument('[status]', `status: ${PRESENCE_STATUSES.join(', ')}`, 'online')
      .argument('[metadata-json]', 'a JSON object stored with the presence (kept as it was when omitted)'),
    [
      'nself realtime presence track user-123 general online',
      'nself realtime presence track user-123 general away',
      `nself realtime presence track user-123 game-lobby online '{"level": 5, "score": 1000}'`,
      'nself realtime presence track user-123',
      'nself realtime presence track user-123 - away',
    ],
  ).action(async (userId: string, channelArg: string | undefined, status: string, metadataText: string | undefined) => {
    checkChoice(status, PRESENCE_STATUSES, 'status');
    const metadata = metadataText === undefined ? undefined : parseJsonObjectArgument(metadataText, 'metadata');
    const db = await database();
    const { requireChannel, trackPresence } = await databaseOperations();
    const channel = channelArg === undefined || channelArg === GLOBAL ? null : await requireChannel(db, channelArg);
    const tracked = await trackPresence(db, { userId, channelId: channel?.id ?? null, status, metadata });
    say(`${tracked.userId} is ${tracked.status} ${where(channel)}.\n`);
  });

  asListing(
    presence
      .command('get')
      .description("Show a user's presence in a channel, or everywhere (global and every channel)")
      .argument('<user>', 'user id')
      .argument('[channel]', 'channel slug or id'),
    ['nself realtime presence get user-123 general', 'nself realtime presence get user-123', 'nself realtime presence get user-123 general json'],
  ).action(async (userId: string, channelArg: string | undefined, jsonWord: string | undefined, options: OutputOptions) => {
    const {
      args: [channelText],
      format,
    } = resolveOutput([channelArg, jsonWord], options);
    const db = await database();
    const channel = await optionalChannel(db, channelText);
    const { getPresence } = await databaseOperations();
    const rows = await getPresence(db, userId, channel?.id);
    if (rows.length === 0) throw new UserError(`no presence recorded for user "${userId}"${channel ? ` in channel "${channel.slug}"` : ''}`);
    await printRows(format, PRESENCE_COLUMNS, rows.map(presenceRow));
  });

  asListing(
    presence.command('online').description('List users present (online or away) in a channel, or anywhere when no channel is given').argument('[channel]', 'channel slug or id'),
    ['nself realtime presence online general', 'nself realtime presence online', 'nself realtime presence online general json'],
  ).action(async (channelArg: string | undefined, jsonWord: string | undefined, options: OutputOptions) => {
    const {
      args: [channelText],
      format,
    } = resolveOutput([channelArg, jsonWord], options);
    const db = await database();
    const channel = await optionalChannel(db, channelText);
    const { listPresent } = await databaseOperations();
    await printRows(format, PRESENCE_COLUMNS, (await listPresent(db, channel?.id)).map(presenceRow));
  });

  asListing(presence.command('count').description('Count the users present (online or away) in a channel, or anywhere').argument('[channel]', 'channel slug or id'), [
    'nself realtime presence count general',
    'nself realtime presence count',
  ]).action(async (channelArg: string | undefined, jsonWord: string | undefined, options: OutputOptions) => {
    const {
      args: [channelText],
      format,
    } = resolveOutput([channelArg, jsonWord], options);
    const db = await database();
    const channel = await optionalChannel(db, channelText);
    const { countPresent } = await databaseOperations();
    const online = await countPresent(db, channel?.id);
    say(format === 'json' ? renderJson({ channel: channel?.slug ?? null, online }) : `${online}\n`);
  });

  withExamples(
    presence
      .command('offline')
      .description('Set a user offline in a channel, or everywhere when no channel is given')
      .argument('<user>', 'user id')
      .argument('[channel]', 'channel slug or id'),
    ['nself realtime presence offline user-123 general', 'nself realtime presence offline user-123'],
  ).action(async (userId: string, channelText: string | undefined) => {
    const db = await database();
    const channel = await optionalChannel(db, channelText);
    const { setOffline } = await databaseOperations();
    const changed = await setOffline(db, userId, channel?.id);
    if (changed === 0) throw new UserError(`no presence recorded for user "${userId}"${channel ? ` in channel "${channel.slug}"` : ''}`);
    const scope = channel ? `in channel "${channel.slug}"` : `everywhere (${changed} presence ${changed === 1 ? 'row' : 'rows'})`;
    say(`${userId} is offline ${scope}.\n`);
  });

  asListing(presence.command('stats').description('Count users by status (a user counts once, by their most present status) and channels with presence'), [
    'nself realtime presence stats',
    'nself realtime presence stats --json',
  ]).action(async (jsonWord: string | undefined, options: OutputOptions) => {
    const { format } = resolveOutput([jsonWord], options);
    const { presenceStats } = await databaseOperations();
    const stats = await presenceStats(await database());
    await printRows(format, STATS_COLUMNS, [
      {
        online: stats.online,
        away: stats.away,
        offline: stats.offline,
        total_users: stats.totalUsers,
        total_channels: stats.totalChannels,
      },
    ]);
  });

  withExamples(
    presence
      .command('cleanup')
      .description(`Set offline every presence unseen for timeout seconds (default REALTIME_STALE_AFTER_SECONDS, else ${SETTINGS.REALTIME_STALE_AFTER_SECONDS.shownDefault})`)
      .argument('[timeout-seconds]', 'seconds without a sign of life'),
    ['nself realtime presence cleanup', 'nself realtime presence cleanup 600'],
  ).action(async (timeoutText: string | undefined) => {
    const timeout = timeoutText === undefined ? readSetting(process.env, 'REALTIME_STALE_AFTER_SECONDS') : parseNumberArgument(timeoutText, 'timeout-seconds', { min: 0 });
    const { cleanupStalePresence } = await databaseOperations();
    const changed = await cleanupStalePresence(await database(), timeout);
    say(`Set ${changed} stale presence ${changed === 1 ? 'row' : 'rows'} offline (unseen for ${timeout} seconds).\n`);
  });
}

/** The channel named by an optional argument, or null when it is absent. */
async function optionalChannel(db: Queryable, idOrSlug: string | undefined): Promise<Channel | null> {
  const { requireChannel } = await databaseOperations();
  return idOrSlug === undefined ? null : requireChannel(db, idOrSlug);
}

function where(channel: Channel | null): string {
  return channel ? `in channel "${channel.slug}"` : '(global presence)';
}

/** A presence row with the seed's columns, then the extra JSON fields. */
function presenceRow(presence: Presence): Row {
  return {
    user_id: presence.userId,
    channel: presence.channel,
    status: presence.status,
    metadata: presence.metadata,
    last_seen_at: presence.lastSeenAt,
    seconds_ago: presence.secondsAgo,
    channel_id: presence.channelId,
  };
}
