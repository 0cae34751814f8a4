// realtime.connections rows for this process's sockets: recorded on connect, touched in batches, closed on disconnect.
import type { Queryable } from '@nself/db';

/** What is recorded about a socket. */
export interface ConnectionRecord {
  readonly connectionId: string;
  readonly userId: string | null;
  readonly serverId: string;
  readonly remoteAddress: string | null;
  readonly userAgent: string | null;
}

/** Records a new connection as connected. */
export async function recordConnection(db: Queryable, connection: ConnectionRecord): Promise<void> {
  await db.query(
    `INSERT INTO realtime.connections (connection_id, user_id, server_id, remote_address, user_agent)
     VALUES ($1, $2, $3, $4, $5)`,
    [connection.connectionId, connection.userId, connection.serverId, connection.remoteAddress, connection.userAgent],
  );
}

/** Refreshes last-seen of live connections and of the presence they hold. */
export async function touchConnections(db: Queryable, connectionIds: readonly string[]): Promise<void> {
  if (connectionIds.length === 0) return;
  await db.query('SELECT realtime.touch_connections($1::text[])', [connectionIds]);
}

/** Marks connections disconnected. */
export async function recordDisconnections(db: Queryable, connectionIds: readonly string[]): Promise<void> {
  if (connectionIds.length === 0) return;
  await db.query(
    `UPDATE realtime.connections SET status = 'disconnected', disconnected_at = now(), last_seen_at = now()
      WHERE connection_id = ANY ($1::text[]) AND status = 'connected'`,
    [connectionIds],
  );
}
