// What every part of a running server shares: configuration, database, logger, metrics, auth and the feeds.
import type { Leadership, Pool } from '@nself/db';
import type { AccessWatch } from './channel/access-watch.js';
import type { Authenticator } from './auth/auth.js';
import type { BroadcastFeed } from './broadcast/broadcast-feed.js';
import type { CallerRates } from './http/caller-rates.js';
import type { ChannelDirectory } from './channel/channel-directory.js';
import type { ServerConfig } from './config.js';
import type { ExpiryWatch } from './channel/expiry-watch.js';
import type { HistoryReads } from './broadcast/history-reads.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { PostgresChangesExtension } from './table-changes/postgres-changes.js';
import type { PresenceFeed } from './presence/presence-feed.js';

export interface ServerContext {
  readonly config: ServerConfig;
  readonly pool: Pool;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly auth: Authenticator;
  readonly channels: ChannelDirectory;
  readonly broadcasts: BroadcastFeed;
  readonly presence: PresenceFeed;
  /** Re-checks joined channels' access when membership or a channel changes, and closes those that lost it. */
  readonly access: AccessWatch;
  /** Reads of channel logs (resume, replay, REST history): bounded pages, a few at a time, shared between joins asking the same at once. */
  readonly history: HistoryReads;
  /** REST broadcast messages per caller per second. */
  readonly restRates: CallerRates;
  /** Closes joined channels whose token expired. */
  readonly expiries: ExpiryWatch;
  /** Whether this process runs the work that runs once per server: sweeps of stale connections and presence, retention, the slot watch. */
  readonly sweepLeadership: Leadership;
  /** Identifies this process in realtime.connections and realtime.presence_sessions. */
  readonly serverId: string;
  /** Delivers table changes; when undefined, joins with bindings are refused. */
  readonly postgresChanges: PostgresChangesExtension | undefined;
  /** Set once shutdown begins: new joins are refused. */
  shuttingDown: boolean;
}
