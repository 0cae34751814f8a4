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

/** Records new connections as connected, in one statement. */
export async function recordConnections(db: Queryable, connections: readonly ConnectionRecord[]): Promise<void> {
  if (connections.length === 0) return;
  await db.query(
    `INSERT INTO realtime.connections (connection_id, user_id, server_id, remote_address, user_agent)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])`,
    [
      connections.map((connection) => connection.connectionId),
      connections.map((connection) => connection.userId),
      connections.map((connection) => connection.serverId),
      connections.map((connection) => connection.remoteAddress),
      connections.map((connection) => connection.userAgent),
    ],
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
