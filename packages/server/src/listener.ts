// The database listener: one dedicated connection LISTENing on realtime:broadcast, realtime:presence and realtime:access,
// reconnecting with backoff; after every reconnect it reports so that missed rows are read back.
import pg from 'pg';
import type { Logger } from './logger.js';
import { LogCode } from './log-codes.js';

export const BROADCAST_CHANNEL = 'realtime:broadcast';
export const PRESENCE_CHANNEL = 'realtime:presence';
export const ACCESS_CHANNEL = 'realtime:access';

export interface ListenerHandlers {
  onNotification(channel: string, payload: unknown): void;
  /** Called after a reconnect (not the first connect) once LISTEN is active again. */
  onReconnected(): void;
}

const KEEPALIVE_MS = 5_000;
const MAX_BACKOFF_MS = 5_000;

/** A self-healing LISTEN connection. */
export class DatabaseListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private connectedOnce = false;
  private attempts = 0;
  private keepalive: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private readyResolvers: Array<() => void> = [];

  constructor(private readonly url: string, private readonly handlers: ListenerHandlers, private readonly logger: Logger) {}

  /** True while LISTEN is active. */
  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Connects and starts listening; resolves once the first LISTEN is active. */
  async start(): Promise<void> {
    await this.connect();
    if (!this.client) throw new Error('the database listener could not connect');
  }

  /** Resolves when the listener is (again) connected; for tests and readiness. */
  ready(): Promise<void> {
    if (this.client) return Promise.resolve();
    return new Promise((resolve) => this.readyResolvers.push(resolve));
  }

  /** The backend process id of the LISTEN connection (so tests can terminate it). */
  async backendPid(): Promise<number | undefined> {
    const result = await this.client?.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return result?.rows[0]?.pid;
  }

  /** Stops listening for good. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.keepalive);
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5_000, keepAlive: true });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    client.on('notification', (note) => this.dispatch(note.channel, note.payload));
    try {
      await client.connect();
      await client.query(`LISTEN "${BROADCAST_CHANNEL}"; LISTEN "${PRESENCE_CHANNEL}"; LISTEN "${ACCESS_CHANNEL}"`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      if (!this.connectedOnce) throw error;
      this.scheduleRetry(error);
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.attempts = 0;
    this.keepalive = setInterval(() => void client.query('SELECT 1').catch((error) => this.lost(client, error)), KEEPALIVE_MS);
    this.keepalive.unref();
    const reconnected = this.connectedOnce;
    this.connectedOnce = true;
    for (const resolve of this.readyResolvers.splice(0)) resolve();
    if (reconnected) {
      this.logger.info({ code: LogCode.listenerReconnected }, 'database listener reconnected');
      this.handlers.onReconnected();
    }
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    clearInterval(this.keepalive);
    client.removeAllListeners('end');
    void client.end().catch(() => undefined);
    if (this.stopped) return;
    this.scheduleRetry(error);
  }

  private scheduleRetry(error: unknown): void {
    if (this.stopped) return;
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** this.attempts);
    this.attempts++;
    this.logger.warn({ code: LogCode.listenerLost, err: error instanceof Error ? error.message : String(error), retryInMs: delay }, 'database listener lost; reconnecting');
    this.retry = setTimeout(() => void this.connect(), delay);
    this.retry.unref();
  }

  private dispatch(channel: string, payload: string | undefined): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload ?? 'null');
    } catch {
      this.logger.warn({ code: LogCode.notificationNotJson, channel }, 'ignoring a notification that is not JSON');
      return;
    }
    try {
      this.handlers.onNotification(channel, parsed);
    } catch (error) {
      this.logger.error({ code: LogCode.notificationFailed, err: error, channel }, 'handling a notification failed');
    }
  }
}
