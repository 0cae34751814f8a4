// `nself realtime connections`: the WebSocket connections that servers record.
import type { Command } from 'commander';
import { asListing, resolveOutput, type OutputOptions } from '../args.js';
import { database, databaseOperations } from '../context.js';
import { printRows } from '../output.js';

const COLUMNS = ['user_id', 'connection_id', 'status', 'connected_at', 'seconds_since_seen'];

/** Registers `connections [--all] [--json]`. */
export function registerConnectionCommands(realtime: Command): void {
  asListing(
    realtime.command('connections').description('Show the connected WebSocket clients, newest first').option('--all', 'include disconnected connections not yet cleaned up'),
    ['nself realtime connections', 'nself realtime connections --json', 'nself realtime connections --all'],
  ).action(async (jsonWord: string | undefined, options: OutputOptions & { all?: boolean }) => {
    const { format } = resolveOutput([jsonWord], options);
    const { listConnections } = await databaseOperations();
    const connections = await listConnections(await database(), { all: options.all === true });
    await printRows(
      format,
      COLUMNS,
      connections.map((connection) => ({
        user_id: connection.userId,
        connection_id: connection.connectionId,
        status: connection.status,
        connected_at: connection.connectedAt,
        seconds_since_seen: connection.secondsSinceSeen,
        server_id: connection.serverId,
        remote_address: connection.remoteAddress,
        user_agent: connection.userAgent,
        last_seen_at: connection.lastSeenAt,
        disconnected_at: connection.disconnectedAt,
      })),
    );
  });
}
