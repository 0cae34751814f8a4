// Channel membership: who belongs to a channel and with which role.
import type { ChannelType } from './channels.js';
import { UserError } from './errors.js';
import type { Queryable } from './queryable.js';
import { checkChoice, checkUserId } from './validation.js';

/** Member roles of the seed: read and send, moderate, or full control. */
export const MEMBER_ROLES = ['member', 'moderator', 'admin'] as const;
export type MemberRole = (typeof MEMBER_ROLES)[number];

export interface Member {
  readonly userId: string;
  readonly role: MemberRole;
  readonly joinedAt: Date;
  /** The member's presence status in the channel, null when never tracked there. */
  readonly status: string | null;
}

/** True when `userId` is a member of the channel. */
export async function isMember(db: Queryable, channelId: string, userId: string): Promise<boolean> {
  return (await memberRole(db, channelId, userId)) !== null;
}

/** The member's role in the channel, or null when the user is not a member. */
export async function memberRole(db: Queryable, channelId: string, userId: string): Promise<MemberRole | null> {
  const { rows } = await db.query<{ role: MemberRole }>('SELECT role FROM realtime.channel_members WHERE channel_id = $1 AND user_id = $2', [channelId, userId]);
  return rows[0]?.role ?? null;
}

export interface MembershipChange {
  /** The role before, or null when the user was not a member. */
  readonly previousRole: MemberRole | null;
  readonly role: MemberRole;
}

/** Adds a user to a channel, or changes the role of an existing member. */
export async function addMember(db: Queryable, member: { channelId: string; userId: string; role?: string }): Promise<MembershipChange> {
  const userId = checkUserId(member.userId);
  const role = checkChoice(member.role ?? 'member', MEMBER_ROLES, 'role');
  const { rows } = await refuseFullChannel(
    db.query<{ previous_role: MemberRole | null }>(
      `WITH previous AS (
       SELECT role FROM realtime.channel_members WHERE channel_id = $1 AND user_id = $2
     ), upserted AS (
       INSERT INTO realtime.channel_members (channel_id, user_id, role) VALUES ($1, $2, $3)
       ON CONFLICT (channel_id, user_id) DO UPDATE SET role = EXCLUDED.role
       RETURNING 1
     )
     SELECT (SELECT role FROM previous) AS previous_role FROM upserted`,
      [member.channelId, userId, role],
    ),
  );
  return { previousRole: rows[0]?.previous_role ?? null, role };
}

/** A query that may add a member, with the database's refusal of a full channel (realtime.enforce_max_members) as a UserError. */
async function refuseFullChannel<T>(query: Promise<T>): Promise<T> {
  try {
    return await query;
  } catch (error) {
    const { constraint, message, hint } = error as { constraint?: string; message: string; hint?: string };
    if (constraint === 'channel_members_max_members') throw new UserError(hint ? `${message}; ${hint}` : message);
    throw error;
  }
}

/** Removes a user from a channel; a user who is not a member is a UserError. */
export async function removeMember(db: Queryable, channel: { id: string; slug: string }, userId: string): Promise<void> {
  const result = await db.query('DELETE FROM realtime.channel_members WHERE channel_id = $1 AND user_id = $2', [channel.id, userId]);
  if ((result.rowCount ?? 0) === 0) throw new UserError(`user "${userId}" is not a member of channel "${channel.slug}"`);
}

/** The members of a channel with their presence there, by join time. */
export async function listMembers(db: Queryable, channelId: string): Promise<Member[]> {
  const { rows } = await db.query<{ user_id: string; role: MemberRole; joined_at: Date; status: string | null }>(
    `SELECT m.user_id, m.role, m.joined_at, p.status
       FROM realtime.channel_members m
       LEFT JOIN realtime.presence p ON p.channel_id = m.channel_id AND p.user_id = m.user_id
      WHERE m.channel_id = $1
      ORDER BY m.joined_at, m.user_id`,
    [channelId],
  );
  return rows.map((row) => ({ userId: row.user_id, role: row.role, joinedAt: row.joined_at, status: row.status }));
}

/** What a re-check of access needs to know about one channel, read in one snapshot. */
export interface ChannelAccess {
  readonly type: ChannelType;
  /** The channel's last offset in the same snapshot: every message up to it committed before the members were read. */
  readonly lastOffset: number;
  /** Those of the users asked about who are members. */
  readonly members: ReadonlySet<string>;
}

/**
 * The type, last offset and members among `userIds` of each channel in `channelIds`, in one statement
 * (one snapshot); a channel that no longer exists is absent from the map.
 */
export async function channelAccess(db: Queryable, channelIds: readonly string[], userIds: readonly string[]): Promise<Map<string, ChannelAccess>> {
  const { rows } = await db.query<{ id: string; type: ChannelType; last_offset: string; members: string[] }>(
    `SELECT c.id, c.type, c.last_offset,
            coalesce(array_agg(m.user_id) FILTER (WHERE m.user_id IS NOT NULL), '{}') AS members
       FROM realtime.channels c
       LEFT JOIN realtime.channel_members m ON m.channel_id = c.id AND m.user_id = ANY($2::text[])
      WHERE c.id = ANY($1::uuid[])
      GROUP BY c.id`,
    [channelIds, userIds],
  );
  return new Map(rows.map((row) => [row.id, { type: row.type, lastOffset: Number(row.last_offset), members: new Set(row.members) }]));
}
