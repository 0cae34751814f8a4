// `nself realtime channel …`: create, list, get, delete channels and manage their members.
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { ChannelDetails, ChannelSummary } from '@nself/db';
import { CHANNEL_TYPES, MEMBER_ROLES, checkChannelMetadata, checkChoice, UserError } from '@nself/db/values';
import { addOutputOptions, asListing, outputFormat, parseJsonObjectArgument, resolveOutput, withExamples, type OutputOptions } from '../args.js';
import { database, databaseOperations } from '../context.js';
import { printRows, renderJson, say, type Row } from '../output.js';

const LIST_COLUMNS = ['id', 'slug', 'name', 'type', 'members', 'online', 'created_at'];
const DETAIL_COLUMNS = ['id', 'slug', 'name', 'type', 'members', 'online', 'messages', 'last_offset', 'metadata', 'created_at'];
const MEMBER_COLUMNS = ['user_id', 'role', 'joined_at', 'status'];

/** Registers `channel create|list|get|delete|members|join|leave`. */
export function registerChannelCommands(realtime: Command): void {
  const channel = withExamples(realtime.command('channel').description('Manage channels (public, private, presence) and their members'), [
    'nself realtime channel create "general" public',
    'nself realtime channel list',
    'nself realtime channel join support user-456 moderator',
  ]);

  const create = addOutputOptions(
    withExamples(
      channel
        .command('create')
        .description('Create a channel; its slug is the lowercased name with spaces turned into "-". A channel that a client\'s join created with that name is taken over')
        .argument('<name>', 'channel name, e.g. "general"')
        .argument('[type]', `channel type: ${CHANNEL_TYPES.join(', ')}`, 'public')
        .argument('[metadata-json]', 'a JSON object stored with the channel'),
      [
        'nself realtime channel create "general" public',
        'nself realtime channel create "team-alpha" private',
        'nself realtime channel create "game-lobby" presence',
        `nself realtime channel create "support" private '{"max_members": 10}'`,
      ],
    ),
  );
  create.action(async (name: string, type: string, metadataText: string | undefined, options: OutputOptions) => {
    const format = outputFormat(options);
    checkChoice(type, CHANNEL_TYPES, 'channel type');
    const metadata = metadataText === undefined ? {} : parseJsonObjectArgument(metadataText, 'metadata');
    const db = await database();
    const { channelDetails, createChannel } = await databaseOperations();
    const { id, tookOverJoinChannel } = await createChannel(db, { name, type, metadata });
    const created = await channelDetails(db, id);
    if (format === 'json') say(renderJson(channelRow(created)));
    else if (tookOverJoinChannel) {
      const what =
        created.type === 'private'
          ? 'its earlier messages were deleted, and joined clients that are not members are disconnected from it'
          : 'its messages and joined clients are kept';
      say(`Took over channel "${created.slug}", which a client's join had created: it is now the ${created.type} channel "${created.name}" (id ${created.id}); ${what}.\n`);
    } else say(`Created ${created.type} channel "${created.name}" (slug ${created.slug}, id ${created.id}).\n`);
  });

  asListing(
    channel
      .command('list')
      .description('List channels with their member and online counts')
      .argument('[type]', `only channels of this type: ${CHANNEL_TYPES.join(', ')}`),
    ['nself realtime channel list', 'nself realtime channel list private', 'nself realtime channel list --format json'],
  ).action(async (typeArg: string | undefined, jsonWord: string | undefined, options: OutputOptions) => {
    const {
      args: [type],
      format,
    } = resolveOutput([typeArg, jsonWord], options);
    if (type !== undefined) checkChoice(type, CHANNEL_TYPES, 'channel type');
    const { listChannels } = await databaseOperations();
    const channels = await listChannels(await database(), type === undefined ? {} : { type });
    await printRows(format, LIST_COLUMNS, channels.map(channelRow));
  });

  asListing(channel.command('get').description('Show one channel, by slug or id').argument('<channel>', 'channel slug or id'), [
    'nself realtime channel get general',
    'nself realtime channel get 6f1c2a9e-0d7b-4c55-9a36-1f0e2b7d8c41 --json',
  ]).action(async (idOrSlug: string, jsonWord: string | undefined, options: OutputOptions) => {
    const { format } = resolveOutput([jsonWord], options);
    const db = await database();
    const { channelDetails, requireChannel } = await databaseOperations();
    const found = await channelDetails(db, (await requireChannel(db, idOrSlug)).id);
    if (format === 'json') say(renderJson(channelRow(found)));
    else await printRows(format, DETAIL_COLUMNS, [channelRow(found)]);
  });

  withExamples(
    channel
      .command('delete')
      .description('Delete a channel with its members, messages and presence (asks first on a terminal)')
      .argument('<channel>', 'channel slug or id')
      .argument('[confirm]', '"true" deletes without asking (needed when not on a terminal)')
      .option('-y, --yes', 'delete without asking (same as "true")'),
    ['nself realtime channel delete general', 'nself realtime channel delete general true'],
  ).action(async (idOrSlug: string, confirm: string | undefined, options: { yes?: boolean }) => {
    if (confirm !== undefined && confirm !== 'true') {
      throw new UserError(`invalid confirmation "${confirm}"; pass "true" to delete without asking`);
    }
    const db = await database();
    const { channelDetails, deleteChannel, requireChannel } = await databaseOperations();
    const target = await channelDetails(db, (await requireChannel(db, idOrSlug)).id);
    const what = `channel "${target.slug}" with ${target.messages} messages and ${target.members} members`;
    if (confirm !== 'true' && !options.yes && !(await confirmOnTerminal(`Delete ${what}? [y/N] `, target.slug))) {
      say(`Cancelled: channel "${target.slug}" was kept.\n`);
      return;
    }
    await deleteChannel(db, target.id);
    say(`Deleted ${what}.\n`);
  });

  asListing(channel.command('members').description('List the members of a channel with their roles and presence there').argument('<channel>', 'channel slug or id'), [
    'nself realtime channel members general',
    'nself realtime channel members general json',
  ]).action(async (idOrSlug: string, jsonWord: string | undefined, options: OutputOptions) => {
    const { format } = resolveOutput([jsonWord], options);
    const db = await database();
    const { listMembers, requireChannel } = await databaseOperations();
    const members = await listMembers(db, (await requireChannel(db, idOrSlug)).id);
    await printRows(
      format,
      MEMBER_COLUMNS,
      members.map((member) => ({
        user_id: member.userId,
        role: member.role,
        joined_at: member.joinedAt,
        status: member.status,
      })),
    );
  });

  withExamples(
    channel
      .command('join')
      .description('Add a user to a channel, or change the role of a member')
      .argument('<channel>', 'channel slug or id')
      .argument('<user>', 'user id, e.g. user-123')
      .argument('[role]', `role: ${MEMBER_ROLES.join(', ')}`, 'member'),
    ['nself realtime channel join general user-123', 'nself realtime channel join support user-456 moderator', 'nself realtime channel join team-alpha user-789 admin'],
  ).action(async (idOrSlug: string, userId: string, role: string) => {
    checkChoice(role, MEMBER_ROLES, 'role');
    const db = await database();
    const { addMember, requireChannel } = await databaseOperations();
    const target = await requireChannel(db, idOrSlug);
    const change = await addMember(db, { channelId: target.id, userId, role });
    const message =
      change.previousRole === null
        ? `Added ${userId} to channel "${target.slug}" as ${change.role}.`
        : change.previousRole === change.role
          ? `${userId} is already a ${change.role} of channel "${target.slug}".`
          : `Changed the role of ${userId} in channel "${target.slug}" from ${change.previousRole} to ${change.role}.`;
    say(`${message}\n`);
  });

  withExamples(channel.command('leave').description('Remove a user from a channel').argument('<channel>', 'channel slug or id').argument('<user>', 'user id'), [
    'nself realtime channel leave general user-123',
  ]).action(async (idOrSlug: string, userId: string) => {
    const db = await database();
    const { removeMember, requireChannel } = await databaseOperations();
    const target = await requireChannel(db, idOrSlug);
    await removeMember(db, target, userId);
    say(`Removed ${userId} from channel "${target.slug}".\n`);
  });

  withExamples(
    channel
      .command('update')
      .description("Change a channel's type and/or its metadata (which replaces the old), as its admin would")
      .argument('<channel>', 'channel slug or id')
      .argument('[type]', `${CHANNEL_TYPES.join(', ')}, or the metadata JSON when the type stays`)
      .argument('[metadata-json]', 'a JSON object, e.g. {"max_members": 20}'),
    [
      `nself realtime channel update support private`,
      `nself realtime channel update support '{"max_members": 20}'`,
      `nself realtime channel update lobby public '{"retention_hours": 72}'`,
    ],
  ).action(async (idOrSlug: string, typeOrMetadata: string | undefined, metadataText: string | undefined) => {
    const metadataFirst = typeOrMetadata?.trimStart().startsWith('{') === true;
    const type = metadataFirst || typeOrMetadata === undefined ? undefined : checkChoice(typeOrMetadata, CHANNEL_TYPES, 'channel type');
    const metadataArgument = metadataFirst ? typeOrMetadata : metadataText;
    if (metadataFirst && metadataText !== undefined) throw new UserError(`give the type before the metadata: nself realtime channel update ${idOrSlug} <type> '<metadata-json>'`);
    const metadata = metadataArgument === undefined ? undefined : checkChannelMetadata(parseJsonObjectArgument(metadataArgument, 'metadata'));
    if (type === undefined && metadata === undefined) throw new UserError(`give a type (${CHANNEL_TYPES.join(', ')}), metadata JSON, or both`);
    const db = await database();
    const { requireChannel, updateChannelAs } = await databaseOperations();
    const target = await requireChannel(db, idOrSlug);
    await updateChannelAs(db, { kind: 'operator' }, target.slug, { ...(type ? { type } : {}), ...(metadata ? { metadata } : {}) });
    const changed = [type ? `type ${type}` : '', metadata ? `metadata ${JSON.stringify(metadata)}` : ''].filter(Boolean).join(' and ');
    say(`Updated channel "${target.slug}": ${changed}.\n`);
  });
}

/** A channel as listings print it: the seed's columns first, then the extra JSON fields. */
function channelRow(channel: ChannelSummary | ChannelDetails): Row {
  return {
    id: channel.id,
    slug: channel.slug,
    name: channel.name,
    type: channel.type,
    members: channel.members,
    online: channel.online,
    created_at: channel.createdAt,
    last_offset: channel.lastOffset,
    ...('messages' in channel ? { messages: channel.messages, last_sent_at: channel.lastSentAt } : {}),
    metadata: channel.metadata,
    updated_at: channel.updatedAt,
  };
}

/** Asks a yes/no question on a terminal; without one, refuses with the way to confirm instead. */
async function confirmOnTerminal(question: string, slug: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new UserError(`refusing to delete channel "${slug}" without confirmation; run \`nself realtime channel delete ${slug} true\``);
  }
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}
