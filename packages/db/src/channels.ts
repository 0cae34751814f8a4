// Channels: slugs, lookup by id or slug, creation, listing with counts, and deletion.
import { UserError } from './errors.js';
import type { Queryable } from './queryable.js';
import { checkChoice, checkJsonObject, checkPrintable } from './validation.js';

/** The channel types of the seed: anyone can join, membership required, or presence-enabled. */
export const CHANNEL_TYPES = ['public', 'private', 'presence'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

/** Longest channel name and slug accepted (the column CHECKs agree). */
export const MAX_CHANNEL_NAME_LENGTH = 200;
/** The most bytes of UTF-8 in a channel name: `realtime:` and the name fit a binary frame's 255-byte topic. */
export const MAX_CHANNEL_NAME_BYTES = 246;

export interface Channel {
  readonly id: string;
  readonly slug: string;
  readonly name: string;
  readonly type: ChannelType;
  readonly metadata: Record<string, unknown>;
  /** Offset of the newest message in the channel's log; 0 when it has none. */
  readonly lastOffset: number;
  /** True while the channel is one that a client's join created (public, set up by nobody). */
  readonly createdByJoin: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A channel an operator created, telling whether it took over a channel that a client's join had created. */
export interface CreatedChannel extends Channel {
  /** The name belonged to a channel created by a client's join: that channel (same id) is now this one (made private, its earlier messages deleted). */
  readonly tookOverJoinChannel: boolean;
}

/** A channel with the figures that listings show. */
export interface ChannelSummary extends Channel {
  readonly members: number;
  /** Users present in the channel (status online or away). */
  readonly online: number;
}

/** One channel with its stored messages counted too (a scan of its log, so not done for listings). */
export interface ChannelDetails extends ChannelSummary {
  /** Messages stored now (cleanup removes old ones; `lastOffset` counts every message ever sent). */
  readonly messages: number;
  readonly lastSentAt: Date | null;
}

interface ChannelRow {
  id: string;
  slug: string;
  name: string;
  type: ChannelType;
  metadata: Record<string, unknown>;
  last_offset: string;
  created_by_join: boolean;
  created_at: Date;
  updated_at: Date;
}

interface ChannelSummaryRow extends ChannelRow {
  members: number;
  online: number;
}

interface ChannelDetailsRow extends ChannelSummaryRow {
  messages: number;
  last_sent_at: Date | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const COLUMNS = 'c.id, c.slug, c.name, c.type, c.metadata, c.last_offset, c.created_by_join, c.created_at, c.updated_at';
const SUMMARY_COLUMNS = `${COLUMNS},
  (SELECT count(*) FROM realtime.channel_members m WHERE m.channel_id = c.id)::int AS members,
  (SELECT count(*) FROM realtime.presence p WHERE p.channel_id = c.id AND p.status <> 'offline')::int AS online`;
const DETAILS_COLUMNS = `${SUMMARY_COLUMNS},
  (SELECT count(*) FROM realtime.messages g WHERE g.channel_id = c.id)::int AS messages,
  (SELECT max(g.sent_at) FROM realtime.messages g WHERE g.channel_id = c.id) AS last_sent_at`;

/**
 * The slug of a channel name, also used by the server for the Supabase topic `realtime:<name>`:
 * lowercase; letters, digits and `.`, `_`, `:`, `-` are kept (so `room:1` and `room1` stay distinct) and
 * everything else is dropped; then runs of whitespace inside become `-` and a leading `-` is removed.
 */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\s._:-]/gu, '')
    .trim()
    .replace(/\s+/gu, '-')
    .replace(/^-+/, '');
  if (slug.length === 0) {
    throw new UserError(`channel name "${name}" leaves nothing for a slug; use letters, digits, ".", "_", ":" or "-"`);
  }
  if ([...slug].length > MAX_CHANNEL_NAME_LENGTH) {
    throw new UserError(`channel name is longer than ${MAX_CHANNEL_NAME_LENGTH} characters`);
  }
  return slug;
}

/**
 * Checks a topic as clients name channels (the WebSocket sub-topic, a REST or SQL topic): used
 * exactly as given, so that `Room/ABC` and `room/abc` are two channels, as on Supabase. Throws a
 * UserError when it is empty, too long for a broadcast frame, or holds characters that are not printable.
 */
export function checkTopic(topic: string): string {
  if (topic.length === 0) throw new UserError('channel topic must not be empty');
  if ([...topic].length > MAX_CHANNEL_NAME_LENGTH) throw new UserError(`channel topic is longer than ${MAX_CHANNEL_NAME_LENGTH} characters`);
  const bytes = Buffer.byteLength(topic, 'utf8');
  if (bytes > MAX_CHANNEL_NAME_BYTES) {
    throw new UserError(`channel topic is ${bytes} bytes in UTF-8; at most ${MAX_CHANNEL_NAME_BYTES} bytes are accepted, so that "realtime:<topic>" fits a binary broadcast frame`);
  }
  return checkPrintable(topic, 'channel topic');
}

/**
 * Finds a channel by id or by slug; null when there is none. With `exact` (a topic from a client),
 * the slug must be the key itself; otherwise (an operator's argument) the key's slug is tried after it.
 */
export async function findChannel(db: Queryable, idOrSlug: string, options: { exact?: boolean } = {}): Promise<Channel | null> {
  return (await findChannels(db, [idOrSlug], options)).get(idOrSlug) ?? null;
}

/**
 * Finds several channels in one query, each by id or by slug as `findChannel` does (a key that is a
 * channel's id names that channel before any channel whose slug it is, and a slug that is the key
 * before the key's slugified form); keys with no channel are absent.
 */
export async function findChannels(db: Queryable, idsOrSlugs: readonly string[], options: { exact?: boolean } = {}): Promise<Map<string, Channel>> {
  const keys = idsOrSlugs.map((key) => ({
    key,
    id: UUID.test(key.trim()) ? key.trim().toLowerCase() : null,
    slugs: options.exact ? [key] : [...new Set([key, ...orNone(() => slugify(key))])],
  }));
  const ids = keys.flatMap(({ id }) => (id === null ? [] : [id]));
  const slugs = keys.flatMap(({ slugs: candidates }) => candidates);
  const found = new Map<string, Channel>();
  if (ids.length === 0 && slugs.length === 0) return found;
  const { rows } = await db.query<ChannelRow>(`SELECT ${COLUMNS} FROM realtime.channels c WHERE c.id = ANY($1::uuid[]) OR c.slug = ANY($2::text[])`, [ids, slugs]);
  const byId = new Map(rows.map((row) => [row.id, row]));
  const bySlug = new Map(rows.map((row) => [row.slug, row]));
  for (const { key, id, slugs: candidates } of keys) {
    const row = (id === null ? undefined : byId.get(id)) ?? candidates.map((slug) => bySlug.get(slug)).find((candidate) => candidate !== undefined);
    if (row) found.set(key, toChannel(row));
  }
  return found;
}

function orNone(slugOf: () => string): string[] {
  try {
    return [slugOf()];
  } catch {
    return [];
  }
}

/** Like `findChannel`, but an unknown channel is a UserError: `unknown channel "x"`. */
export async function requireChannel(db: Queryable, idOrSlug: string): Promise<Channel> {
  const channel = await findChannel(db, idOrSlug);
  if (!channel) throw new UserError(`unknown channel "${idOrSlug}"; \`nself realtime channel list\` shows the channels`);
  return channel;
}

export interface NewChannel {
  readonly name: string;
  readonly type?: string;
  readonly metadata?: unknown;
}

/**
 * A channel name as stored: trimmed, 1 to 200 characters and at most 246 bytes of UTF-8 (so that its
 * topic `realtime:<name>` fits the one-byte topic length of a binary broadcast frame), no control
 * characters (`checkPrintable`). Throws a UserError saying what is wrong and what is accepted.
 */
export function checkChannelName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0) throw new UserError('channel name must not be empty');
  if ([...trimmed].length > MAX_CHANNEL_NAME_LENGTH) throw new UserError(`channel name is longer than ${MAX_CHANNEL_NAME_LENGTH} characters`);
  const bytes = Buffer.byteLength(trimmed, 'utf8');
  if (bytes > MAX_CHANNEL_NAME_BYTES) {
    throw new UserError(
      `channel name is ${bytes} bytes in UTF-8; at most ${MAX_CHANNEL_NAME_BYTES} bytes are accepted, so that its topic "realtime:<name>" fits a binary broadcast frame`,
    );
  }
  return checkPrintable(trimmed, 'channel name');
}

/** The metadata key that caps a channel's members, as in the seed: `'{"max_members": 10}'`. */
export const MAX_MEMBERS_METADATA_KEY = 'max_members';

/** Checks a channel's metadata: a JSON object, whose `max_members`, when present, is a whole number of 1 or more. */
export function checkChannelMetadata(value: unknown): Record<string, unknown> {
  const metadata = checkJsonObject(value, 'channel metadata');
  const maxMembers = metadata[MAX_MEMBERS_METADATA_KEY];
  if (maxMembers !== undefined && maxMembers !== null && !(typeof maxMembers === 'number' && Number.isSafeInteger(maxMembers) && maxMembers >= 1)) {
    throw new UserError(
      `channel metadata "${MAX_MEMBERS_METADATA_KEY}" is ${JSON.stringify(maxMembers)}; it must be a whole number of members, 1 or more (e.g. {"max_members": 10})`,
    );
  }
  return metadata;
}

/**
 * Creates a channel. A name whose slug belongs to a channel that a client's join created is taken over:
 * that channel (same id) gets this name, type and metadata and becomes the operator's; made private, its
 * earlier messages (written by anyone) are deleted, and its joined clients that are not members are
 * closed out by the servers. Any other taken slug is a UserError naming the existing channel.
 */
export async function createChannel(db: Queryable, channel: NewChannel): Promise<CreatedChannel> {
  const name = checkChannelName(channel.name);
  const type = checkChoice(channel.type ?? 'public', CHANNEL_TYPES, 'channel type');
  const metadata = checkChannelMetadata(channel.metadata ?? {});
  const slug = slugify(name);
  const { rows } = await db.query<ChannelRow & { took_over: boolean }>(
    `WITH created AS (
       INSERT INTO realtime.channels AS c (slug, name, type, metadata) VALUES ($1, $2, $3, $4::jsonb)
       ON CONFLICT (slug) DO UPDATE
          SET name = EXCLUDED.name, type = EXCLUDED.type, metadata = EXCLUDED.metadata, created_by_join = false, updated_at = now()
        WHERE c.created_by_join
       RETURNING ${COLUMNS}, c.xmax <> 0 AS took_over
     ), cleared AS (
       DELETE FROM realtime.messages m USING created WHERE m.channel_id = created.id AND created.took_over AND created.type = 'private'
     )
     SELECT * FROM created`,
    [slug, name, type, JSON.stringify(metadata)],
  );
  if (!rows[0]) {
    const existing = await findChannel(db, slug);
    throw new UserError(`a channel with slug "${slug}" already exists (name "${existing?.name ?? slug}", type ${existing?.type ?? 'unknown'})`);
  }
  return { ...toChannel(rows[0]), tookOverJoinChannel: rows[0].took_over };
}

/**
 * Creates the channel (public unless `type` says private) of a client's join to a topic nobody set up
 * (its slug and name are the topic, exactly), marked as created by a join (an operator's `createChannel` of that name takes it
 * over); null when the slug is taken meanwhile.
 */
export async function createJoinChannel(db: Queryable, topic: string, type: 'public' | 'private' = 'public'): Promise<Channel | null> {
  const checked = checkTopic(topic);
  const { rows } = await db.query<ChannelRow>(
    `INSERT INTO realtime.channels AS c (slug, name, type, created_by_join) VALUES ($1, $2, $3, true)
     ON CONFLICT (slug) DO NOTHING RETURNING ${COLUMNS}`,
    [checked, checked, type],
  );
  return rows[0] ? toChannel(rows[0]) : null;
}

/** Every channel, optionally of one type, with member, presence and message counts, oldest first. */
export async function listChannels(db: Queryable, options: { type?: string } = {}): Promise<ChannelSummary[]> {
  const type = options.type === undefined ? null : checkChoice(options.type, CHANNEL_TYPES, 'channel type');
  const { rows } = await db.query<ChannelSummaryRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM realtime.channels c
      WHERE $1::text IS NULL OR c.type = $1
      ORDER BY c.created_at, c.slug`,
    [type],
  );
  return rows.map(toSummary);
}

/** One channel with its member, presence and message counts. */
export async function channelDetails(db: Queryable, channelId: string): Promise<ChannelDetails> {
  const { rows } = await db.query<ChannelDetailsRow>(`SELECT ${DETAILS_COLUMNS} FROM realtime.channels c WHERE c.id = $1`, [channelId]);
  const row = rows[0];
  if (!row) throw new UserError(`unknown channel "${channelId}"`);
  return { ...toSummary(row), messages: row.messages, lastSentAt: row.last_sent_at };
}

/** Deletes a channel with its members, messages and presence; false when it did not exist. */
export async function deleteChannel(db: Queryable, channelId: string): Promise<boolean> {
  const result = await db.query('DELETE FROM realtime.channels WHERE id = $1', [channelId]);
  return (result.rowCount ?? 0) > 0;
}

function toChannel(row: ChannelRow): Channel {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    type: row.type,
    metadata: row.metadata,
    lastOffset: Number(row.last_offset),
    createdByJoin: row.created_by_join,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toSummary(row: ChannelSummaryRow): ChannelSummary {
  return { ...toChannel(row), members: row.members, online: row.online };
}
