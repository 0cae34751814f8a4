// WebSocket connections as the server records them (realtime.connections): recording, touching, closing, listing and cleanup of stale rows.
import type { Queryable } from './queryable.js';

export interface ConnectionInfo {
  readonly connectionId: string;
  readonly userId: string | null;
  readonly serverId: string | null;
  readonly status: 'connected' | 'disconnected';
  readonly remoteAddress: string | null;
  readonly userAgent: string | null;
  readonly connectedAt: Date;
  readonly lastSeenAt: Date;
  readonly disconnectedAt: Date | null;
  /** Whole seconds since `lastSeenAt`, by the database clock. */
  readonly secondsSinceSeen: number;
}

interface ConnectionRow {
  connection_id: string;
  user_id: string | null;
  server_id: string | null;
  status: 'connected' | 'disconnected';
  remote_address: string | null;
  user_agent: string | null;
  connected_at: Date;
  last_seen_at: Date;
  disconnected_at: Date | null;
  seconds_since_seen: number;
}

/** Connected connections (or all, with `all`), newest first. */
export async function listConnections(db: Queryable, options: { all?: boolean } = {}): Promise<ConnectionInfo[]> {
  const { rows } = await db.query<ConnectionRow>(
    `SELECT connection_id, user_id, server_id, status, remote_address, user_agent, connected_at, last_seen_at,
            disconnected_at, floor(extract(epoch FROM now() - last_seen_at))::int AS seconds_since_seen
       FROM realtime.connections
      WHERE $1 OR status = 'connected'
      ORDER BY connected_at DESC, connection_id`,
    [options.all === true],
  );
  return rows.map((row) => ({
    connectionId: row.connection_id,
    userId: row.user_id,
    serverId: row.server_id,
    status: row.status,
    remoteAddress: row.remote_address,
    userAgent: row.user_agent,
    connectedAt: row.connected_at,
    lastSeenAt: row.last_seen_at,
    disconnectedAt: row.disconnected_at,
    secondsSinceSeen: Math.max(0, row.seconds_since_seen),
  }));
}

/**
 * Marks connections unseen for `timeoutSeconds` disconnected and removes those disconnected for over
 * 24 hours (through `realtime.cleanup_stale_connections`); returns how many rows it changed.
 */
export async function cleanupStaleConnections(db: Queryable, timeoutSeconds: number): Promise<number> {
  const { rows } = await db.query<{ changed: number }>('SELECT realtime.cleanup_stale_connections($1) AS changed', [timeoutSeconds]);
  return rows[0]?.changed ?? 0;
}

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
