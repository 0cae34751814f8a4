// One LISTEN connection for a whole process: channels are listened to and dropped as their handlers come and go,
// the connection is kept alive, and it reconnects with backoff, listening again on every channel before it says so.
import pg from 'pg';

/** Receives the payload of each notification on a channel (as sent: text, or undefined for none). */
export type NotificationHandler = (payload: string | undefined) => void;

export interface NotificationListenerOptions {
  /** The connection: a connection string, or the options of a pool (`pool.options`). */
  readonly connection: string | pg.ClientConfig;
  /** Told when the connection was lost, with the delay before the next attempt. */
  readonly onLost?: (error: Error, retryInMs: number) => void;
  /** Told when a handler throws; the other handlers still run. */
  readonly onHandlerError?: (error: unknown, channel: string) => void;
}

const KEEPALIVE_MS = 5_000;
/** How the connection shows in pg_stat_activity, so that operators (and tests) can tell it apart. */
export const LISTENER_APPLICATION_NAME = 'nself realtime listener';
const MAX_BACKOFF_MS = 5_000;

/**
 * A self-healing LISTEN connection shared by every part of a process that needs notifications. Notifications of
 * all its channels arrive on the one connection, so they reach their handlers in commit order across channels.
 */
export class NotificationListener {
  private client: pg.Client | undefined;
  private readonly handlers = new Map<string, Set<NotificationHandler>>();
  /** Channels LISTENed to on the current connection. */
  private readonly active = new Set<string>();
  private readonly reconnectCallbacks = new Set<() => void>();
  private started = false;
  private stopped = false;
  private attempts = 0;
  private keepalive: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private readyResolvers: Array<() => void> = [];
  /** LISTEN and UNLISTEN statements run one at a time, in the order asked. */
  private statements: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: NotificationListenerOptions) {}

  /** True while the connection is up and listening. */
  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Connects and listens on the channels registered so far; rejects when the first connection fails. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.connect(true);
  }

  /** Resolves once the listener is (again) connected. */
  ready(): Promise<void> {
    if (this.client) return Promise.resolve();
    return new Promise((resolve) => this.readyResolvers.push(resolve));
  }

  /** Calls `callback` after every reconnect (not the first connect), once every channel is listened to again. */
  onReconnect(callback: () => void): () => void {
    this.reconnectCallbacks.add(callback);
    return () => this.reconnectCallbacks.delete(callback);
  }

  /** Adds a handler of `channel`; resolves once the channel is listened to (or at once while disconnected: the reconnect listens). */
  async listen(channel: string, handler: NotificationHandler): Promise<void> {
    let set = this.handlers.get(channel);
    if (!set) this.handlers.set(channel, (set = new Set()));
    set.add(handler);
    await this.sync(channel);
  }

  /** Removes a handler of `channel`; the channel is no longer listened to once it has none. */
  async unlisten(channel: string, handler: NotificationHandler): Promise<void> {
    const set = this.handlers.get(channel);
    if (!set?.delete(handler)) return;
    if (set.size === 0) this.handlers.delete(channel);
    await this.sync(channel);
  }

  /** The backend process id of the connection (so tests can terminate it). */
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

  /** Brings the connection's LISTEN of `channel` in line with its handlers. */
  private sync(channel: string): Promise<void> {
    const run = this.statements.then(async () => {
      const client = this.client;
      if (!client) return;
      const wanted = this.handlers.has(channel);
      if (wanted === this.active.has(channel)) return;
      try {
        await client.query(`${wanted ? 'LISTEN' : 'UNLISTEN'} ${pg.escapeIdentifier(channel)}`);
      } catch (error) {
        // The connection broke under the statement: the reconnect listens on what is wanted then.
        this.lost(client, error);
        return;
      }
      if (wanted) this.active.add(channel);
      else this.active.delete(channel);
    });
    this.statements = run.catch(() => undefined);
    return run;
  }

  private async connect(first: boolean): Promise<void> {
    const config = typeof this.options.connection === 'string' ? { connectionString: this.options.connection } : this.options.connection;
    const client = new pg.Client({ connectionTimeoutMillis: 5_000, keepAlive: true, ...config, application_name: LISTENER_APPLICATION_NAME });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    client.on('notification', (note) => this.dispatch(note.channel, note.payload));
    const channels = [...this.handlers.keys()];
    try {
      await client.connect();
      if (channels.length > 0) await client.query(channels.map((channel) => `LISTEN ${pg.escapeIdentifier(channel)}`).join('; '));
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      if (first) throw error;
      this.scheduleRetry(error);
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.active.clear();
    for (const channel of channels) this.active.add(channel);
    this.attempts = 0;
    this.keepalive = setInterval(() => void client.query('SELECT 1').catch((error: unknown) => this.lost(client, error)), KEEPALIVE_MS);
    this.keepalive.unref();
    // Handlers added or removed while the connection was being made.
    for (const channel of new Set([...this.handlers.keys(), ...this.active])) await this.sync(channel);
    for (const resolve of this.readyResolvers.splice(0)) resolve();
    if (!first) for (const callback of this.reconnectCallbacks) callback();
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.active.clear();
    clearInterval(this.keepalive);
    client.removeAllListeners('end');
    void client.end().catch(() => undefined);
    this.scheduleRetry(error);
  }

  private scheduleRetry(error: unknown): void {
    if (this.stopped) return;
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** this.attempts);
    this.attempts++;
    this.options.onLost?.(error instanceof Error ? error : new Error(String(error)), delay);
    this.retry = setTimeout(() => void this.connect(false), delay);
    this.retry.unref();
  }

  private dispatch(channel: string, payload: string | undefined): void {
    for (const handler of this.handlers.get(channel) ?? []) {
      try {
        handler(payload);
      } catch (error) {
        this.options.onHandlerError?.(error, channel);
      }
    }
  }
}
