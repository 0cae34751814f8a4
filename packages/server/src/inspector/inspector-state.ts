// What the inspector's page polls: channels and their rates, table subscriptions and capture lag, connections, and this process's figures.
import { channelActivity, listConnections, listSubscriptions, pendingChanges, readSlotHealth, tableActivity, type ChannelActivity, type Pool } from '@nself/db';
import type { Authenticator } from '../auth/auth.js';
import type { Metrics } from '../metrics.js';
import { readServerFigures, type ServerFigures } from './server-figures.js';

/** Rates are counted over this many seconds. */
export const RATE_WINDOW_SECONDS = 10;

/** The inspector's view of the system, as JSON: times are ISO strings. */
export interface InspectorState {
  readonly time: string;
  readonly windowSeconds: number;
  readonly server: ServerFigures & { readonly id: string; readonly developmentMode: boolean };
  readonly channels: readonly (Omit<ChannelActivity, 'lastSentAt'> & { readonly lastSentAt: string | null })[];
  readonly tables: readonly {
    readonly table: string;
    /** How its changes are captured (`wal`, `notify`, `poll`); null for a table of a watched schema with no subscription of its own. */
    readonly capture: string | null;
    readonly events: readonly string[];
    readonly state: string;
    readonly changesSeen: number | null;
    readonly changesPerSecond: number;
    readonly lastChangeAt: string | null;
  }[];
  readonly capture: {
    readonly path: 'wal' | 'trigger';
    readonly slot: string;
    readonly slotActive: boolean;
    readonly lagBytes: number | null;
    readonly secondsSinceRead: number | null;
    /** Changes captured but not yet positioned. */
    readonly pending: number;
  };
  readonly connections: readonly {
    readonly id: string;
    readonly userId: string | null;
    readonly serverId: string | null;
    readonly remoteAddress: string | null;
    readonly userAgent: string | null;
    readonly connectedAt: string;
    readonly lastSeenAt: string;
    /** Channels joined, for connections of this process; null for those of other processes. */
    readonly channels: readonly string[] | null;
  }[];
}

/** Reads the state; `joinedChannels` gives the channels each connection of this process has joined, by connection id. */
/** What the inspector's state is read from: the database, this process's metrics and identity, and whether it runs in development mode. */
export interface InspectorStateDeps {
  readonly pool: Pool;
  readonly metrics: Pick<Metrics, 'registry'>;
  readonly serverId: string;
  readonly auth: Pick<Authenticator, 'developmentMode'>;
}

export async function readInspectorState(deps: InspectorStateDeps, joinedChannels: () => ReadonlyMap<string, readonly string[]>): Promise<InspectorState> {
  const [channels, subscriptions, tables, slot, pending, connections, server] = await Promise.all([
    channelActivity(deps.pool, RATE_WINDOW_SECONDS),
    listSubscriptions(deps.pool),
    tableActivity(deps.pool, RATE_WINDOW_SECONDS),
    readSlotHealth(deps.pool),
    pendingChanges(deps.pool),
    listConnections(deps.pool),
    readServerFigures(deps.metrics.registry),
  ]);
  const joined = joinedChannels();
  const rates = new Map(tables.map((table) => [`${table.schema}.${table.table}`, table.changesPerSecond]));
  const subscribed = new Set(subscriptions.map((subscription) => `${subscription.schema}.${subscription.relation}`));
  return {
    time: new Date().toISOString(),
    windowSeconds: RATE_WINDOW_SECONDS,
    server: { ...server, id: deps.serverId, developmentMode: deps.auth.developmentMode },
    channels: channels.map((channel) => ({ ...channel, lastSentAt: channel.lastSentAt?.toISOString() ?? null })),
    tables: [
      ...subscriptions.map((subscription) => ({
        table: subscription.table,
        capture: subscription.capture,
        events: subscription.events,
        state: subscription.state,
        changesSeen: subscription.changesSeen,
        changesPerSecond: rates.get(`${subscription.schema}.${subscription.relation}`) ?? 0,
        lastChangeAt: subscription.lastChangeAt?.toISOString() ?? null,
      })),
      ...tables
        .filter((table) => !subscribed.has(`${table.schema}.${table.table}`))
        .map((table) => ({
          table: `${table.schema}.${table.table}`,
          capture: null,
          events: [],
          state: 'watched schema',
          changesSeen: null,
          changesPerSecond: table.changesPerSecond,
          lastChangeAt: null,
        })),
    ],
    capture: {
      path: slot.path,
      slot: slot.slot.name,
      slotActive: slot.slot.active,
      lagBytes: slot.slot.lagBytes,
      secondsSinceRead: slot.slot.secondsSinceRead,
      pending,
    },
    connections: connections.map((connection) => ({
      id: connection.connectionId,
      userId: connection.userId,
      serverId: connection.serverId,
      remoteAddress: connection.remoteAddress,
      userAgent: connection.userAgent,
      connectedAt: connection.connectedAt.toISOString(),
      lastSeenAt: connection.lastSeenAt.toISOString(),
      channels: joined.get(connection.connectionId) ?? null,
    })),
  };
}
