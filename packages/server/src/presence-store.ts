// Presence held by WebSocket connections, stored through the realtime.*presence_session* SQL functions.
import type { Queryable } from '@nself/db';

/** One present user of a channel as stored in realtime.presence. */
export interface StoredPresence {
  readonly userId: string;
  readonly status: string;
  readonly metadata: Record<string, unknown>;
}

/** Records that `connectionId` tracks `userId` in a channel with a status and metadata. */
export async function trackSession(
  db: Queryable,
  session: { connectionId: string; channelId: string; userId: string; status: string; metadata: unknown; serverId: string },
): Promise<void> {
  await db.query('SELECT realtime.track_presence_session($1, $2, $3, $4, $5::jsonb, $6)', [
    session.connectionId, session.channelId, session.userId, session.status, JSON.stringify(session.metadata), session.serverId,
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

/** The users present (online or away) in a channel. */
export async function presentUsers(db: Queryable, channelId: string): Promise<StoredPresence[]> {
  const { rows } = await db.query<{ user_id: string; status: string; metadata: Record<string, unknown> }>(
    `SELECT user_id, status, metadata FROM realtime.presence WHERE channel_id = $1 AND status <> 'offline' ORDER BY user_id`,
    [channelId],
  );
  return rows.map((row) => ({ userId: row.user_id, status: row.status, metadata: row.metadata }));
}
