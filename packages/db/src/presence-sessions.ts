// Presence held by WebSocket connections, stored through the realtime.*presence_session* SQL functions,
// and the presence of a channel as viewers see it, read from realtime.presence_sessions and realtime.presence.
import type { Queryable } from './queryable.js';

/**
 * One presence as viewers see it: a WebSocket session (`s:<connection id>`, under its presence key,
 * its tracked metadata) or a stored presence without a session in the channel, such as one tracked
 * from the CLI or SQL (`u:<user id>`, under the user id, its status with its metadata).
 */
export interface VisiblePresence {
  readonly id: string;
  readonly key: string;
  readonly data: Record<string, unknown>;
}

/** Which presences to read again after notifications: sessions by connection id, stored presence by user id. */
export interface PresenceIds {
  readonly connectionIds: readonly string[];
  readonly userIds: readonly string[];
}

/** The id of a session's presence. */
export function sessionPresenceId(connectionId: string): string {
  return `s:${connectionId}`;
}

/** The id of a stored presence shown without a session. */
export function userPresenceId(userId: string): string {
  return `u:${userId}`;
}

/**
 * Records that `connectionId` tracks presence in a channel under `presenceKey` with `metadata`. The
 * stored presence of `userId` (the token's user) takes the status and metadata; a null user stores none.
 */
export async function trackSession(
  db: Queryable,
  session: { connectionId: string; channelId: string; userId: string | null; presenceKey: string; status: string; metadata: unknown; serverId: string },
): Promise<void> {
  await db.query('SELECT realtime.track_presence_session($1, $2, $3, $4, $5, $6::jsonb, $7)', [
    session.connectionId,
    session.channelId,
    session.userId,
    session.presenceKey,
    session.status,
    JSON.stringify(session.metadata),
    session.serverId,
  ]);
}

/** Ends the sessions of connections (in one channel, or everywhere); users left without one go offline. */
export async function endSessions(db: Queryable, connectionIds: readonly string[], channelId: string | null = null): Promise<void> {
  if (connectionIds.length === 0) return;
  await db.query('SELECT realtime.end_presence_sessions($1::text[], $2::uuid)', [connectionIds, channelId]);
}

/** Ends the sessions of connections that are gone or silent for `staleAfterSeconds`. */
export async function sweepSessions(db: Queryable, staleAfterSeconds: number): Promise<number> {
  const { rows } = await db.query<{ swept: number | null }>('SELECT realtime.sweep_presence_sessions($1) AS swept', [staleAfterSeconds]);
  return rows[0]?.swept ?? 0;
}

/**
 * The presences of a channel as viewers see them: every session, and every stored presence that is
 * not offline and has no session in the channel (a session's user is shown through the session).
 * With `only`, just those sessions and users (the ones absent are gone).
 */
export async function visiblePresences(db: Queryable, channelId: string, only?: PresenceIds): Promise<VisiblePresence[]> {
  const { rows } = await db.query<VisiblePresence>(
    `SELECT 's:' || s.connection_id AS id, coalesce(s.presence_key, s.user_id) AS key, s.metadata AS data
       FROM realtime.presence_sessions s
      WHERE s.channel_id = $1 AND ($2::text[] IS NULL OR s.connection_id = ANY ($2))
     UNION ALL
     SELECT 'u:' || p.user_id, p.user_id, jsonb_build_object('status', p.status) || p.metadata
       FROM realtime.presence p
      WHERE p.channel_id = $1 AND p.status <> 'offline' AND ($3::text[] IS NULL OR p.user_id = ANY ($3))
        AND NOT EXISTS (SELECT 1 FROM realtime.presence_sessions s WHERE s.channel_id = p.channel_id AND s.user_id = p.user_id)
      ORDER BY id`,
    [channelId, only ? only.connectionIds : null, only ? only.userIds : null],
  );
  return rows;
}

/**
 * The bytes of a channel's presence as viewers see it (the JSON of each visible presence, as the
 * database prints it), leaving out the presence `exceptPresenceId`: one aggregate, for a process
 * that holds no state of the channel.
 */
export async function presenceBytes(db: Queryable, channelId: string, exceptPresenceId: string): Promise<number> {
  const { rows } = await db.query<{ bytes: string }>(
    `SELECT coalesce(sum(bytes), 0) AS bytes FROM (
       SELECT octet_length(s.metadata::text) AS bytes
         FROM realtime.presence_sessions s
        WHERE s.channel_id = $1 AND 's:' || s.connection_id <> $2
       UNION ALL
       SELECT octet_length((jsonb_build_object('status', p.status) || p.metadata)::text)
         FROM realtime.presence p
        WHERE p.channel_id = $1 AND p.status <> 'offline'
          AND NOT EXISTS (SELECT 1 FROM realtime.presence_sessions s WHERE s.channel_id = p.channel_id AND s.user_id = p.user_id)
     ) visible`,
    [channelId, exceptPresenceId],
  );
  return Number(rows[0]?.bytes ?? 0);
}
