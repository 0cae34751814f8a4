// Keeps realtime.connections current for this process: new rows, last-seen and disconnects in batches,
// a sweeper that marks stale connections and ends presence held by dead ones, and one idle check for all sockets.
import {
  cleanupStaleConnections,
  endSessions,
  recordConnections,
  recordDisconnections,
  sweepSessions,
  touchConnections,
  type ConnectionRecord,
  type Leadership,
  type Pool,
} from '@nself/db';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { LogCode } from '../log-codes.js';

/** How long a new connection's row waits for others to be inserted with it. */
const RECORD_BATCH_MS = 10;

/** Where the tracker writes, how often, and what it reports. */
export interface ConnectionTrackerDeps {
  readonly config: Pick<ServerConfig, 'touchIntervalMs' | 'sweepIntervalMs' | 'staleAfterSeconds' | 'limits'>;
  readonly pool: Pool;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Whether this process runs the sweeps (one process per database does). */
  readonly sweepLeadership: Pick<Leadership, 'leading'>;
}

/** What the tracker needs of a client socket: its connection id, and closing it when silent too long. */
export interface TrackedSocket {
  readonly id: string;
  closeIfIdle(now: number): void;
}

/** The live sockets of this process (of the client socket's type, which the server reads back) and their bookkeeping in the database. */
export class ConnectionTracker<Socket extends TrackedSocket = TrackedSocket> {
  readonly sockets = new Set<Socket>();
  private readonly opening: ConnectionRecord[] = [];
  private readonly closing = new Set<string>();
  private flushing: Promise<void> | undefined;
  private readonly touchTimer: NodeJS.Timeout;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly idleTimer: NodeJS.Timeout;

  constructor(private readonly deps: ConnectionTrackerDeps) {
    this.touchTimer = setInterval(() => void this.touch(), deps.config.touchIntervalMs);
    this.touchTimer.unref();
    this.sweepTimer = setInterval(() => void this.sweep(), deps.config.sweepIntervalMs);
    this.sweepTimer.unref();
    // One timer for every socket: a silent one is closed within a quarter of the idle timeout after it expires.
    this.idleTimer = setInterval(() => this.closeIdle(), Math.max(50, Math.floor(deps.config.limits.idleTimeoutMs / 4)));
    this.idleTimer.unref();
  }

  /** Counts a newly opened socket. */
  add(socket: Socket): void {
    this.sockets.add(socket);
    this.deps.metrics.connections.set(this.sockets.size);
  }

  /** Records a closed socket: its presence ends and its row is marked disconnected (batched). */
  closed(socket: Socket): void {
    this.sockets.delete(socket);
    this.deps.metrics.connections.set(this.sockets.size);
    this.recordDisconnect(socket.id);
  }

  /**
   * Records a new connection without waiting for the database: rows of connections opened within
   * RECORD_BATCH_MS of each other (or while a write is in flight) are inserted together, always before
   * any disconnect recorded after them.
   */
  record(connection: ConnectionRecord): void {
    this.opening.push(connection);
    this.scheduleFlush();
  }

  /** Records a connection that is gone, whether or not its socket was ever opened. */
  recordDisconnect(connectionId: string): void {
    this.closing.add(connectionId);
    this.scheduleFlush();
  }

  /** Waits until every recorded disconnect is written. */
  async settle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Stops the timers. */
  stop(): void {
    clearInterval(this.touchTimer);
    clearInterval(this.sweepTimer);
    clearInterval(this.idleTimer);
  }

  /** Ends presence and records disconnection for `ids` now, once the rows queued before are written (used at shutdown). */
  async disconnectAll(ids: readonly string[]): Promise<void> {
    await this.settle();
    await this.writeDisconnects(ids);
  }

  private scheduleFlush(): void {
    this.flushing ??= new Promise<void>((resolve) => setTimeout(resolve, RECORD_BATCH_MS)).then(() => this.flush());
  }

  private async writeDisconnects(ids: readonly string[]): Promise<void> {
    await endSessions(this.deps.pool, ids);
    await recordDisconnections(this.deps.pool, ids);
  }

  private async flush(): Promise<void> {
    const opened = this.opening.splice(0);
    const ids = [...this.closing];
    this.closing.clear();
    try {
      await recordConnections(this.deps.pool, opened);
    } catch (error) {
      this.deps.logger.error({ code: LogCode.connectionsRecordFailed, err: error, connections: opened.length }, 'recording new connections failed');
    }
    try {
      if (ids.length > 0) await this.writeDisconnects(ids);
    } catch (error) {
      this.deps.logger.error({ code: LogCode.connectionsDisconnectFailed, err: error, connections: ids.length }, 'recording disconnections failed; the sweeper will catch up');
    } finally {
      this.flushing = undefined;
      if (this.closing.size > 0 || this.opening.length > 0) this.flushing = this.flush();
    }
  }

  private closeIdle(): void {
    const now = Date.now();
    for (const socket of this.sockets) socket.closeIfIdle(now);
  }

  private async touch(): Promise<void> {
    try {
      await touchConnections(
        this.deps.pool,
        [...this.sockets].map((socket) => socket.id),
      );
    } catch (error) {
      this.deps.logger.warn({ code: LogCode.connectionsTouchFailed, err: error }, 'refreshing connection last-seen failed');
    }
  }

  /** Marks stale connections and ends presence held by dead ones; only in the process leading the sweeps. */
  private async sweep(): Promise<void> {
    if (!this.deps.sweepLeadership.leading) return;
    this.deps.metrics.sweeps.inc({ kind: 'connections' });
    try {
      await cleanupStaleConnections(this.deps.pool, this.deps.config.staleAfterSeconds);
      const swept = await sweepSessions(this.deps.pool, this.deps.config.staleAfterSeconds);
      if (swept > 0) this.deps.logger.info({ code: LogCode.presenceStaleSwept, users: swept }, 'presence of stale connections turned offline');
    } catch (error) {
      this.deps.logger.warn({ code: LogCode.connectionsSweepFailed, err: error }, 'sweeping stale connections failed');
    }
  }
}
