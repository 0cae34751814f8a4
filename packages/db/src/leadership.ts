// Elects the one process, among a server's workers and machines on one database, that runs the work meant to run once:
// a PostgreSQL session advisory lock, held on a connection of its own and tried again by the others until it is free.
import pg from 'pg';

export interface LeadershipOptions {
  /** The connection: a connection string, or the options of a pool (`pool.options`). */
  readonly connection: string | pg.ClientConfig;
  /** What is led: processes asking for the same name compete for one lock. */
  readonly name: string;
  /** How long a process that is not leading waits before asking again, in ms. */
  readonly retryMs: number;
  /** Told when this process starts or stops leading. */
  readonly onChange?: (leading: boolean) => void;
}

/** How the connection shows in pg_stat_activity. */
export const LEADERSHIP_APPLICATION_NAME = 'nself realtime leadership';

/**
 * One process leads at a time: the one whose connection holds the advisory lock. When that process
 * stops or its connection is lost, PostgreSQL releases the lock and the next process to ask takes it.
 */
export class Leadership {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private held = false;

  constructor(private readonly options: LeadershipOptions) {}

  /** True while this process holds the lock. */
  get leading(): boolean {
    return this.held;
  }

  /** Asks for the lock now, and keeps asking every `retryMs` until this process holds it. */
  start(): Promise<void> {
    return this.attempt();
  }

  /** Gives up the lock (by closing its connection) and stops asking. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    this.setLeading(false);
    await client?.end().catch(() => undefined);
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    try {
      const client = this.client ?? (await this.connect());
      const { rows } = await client.query<{ taken: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS taken', [this.options.name]);
      if (rows[0]?.taken === true) {
        this.setLeading(true);
        return;
      }
    } catch {
      this.drop();
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.attempt(), this.options.retryMs);
  }

  private async connect(): Promise<pg.Client> {
    const config = typeof this.options.connection === 'string' ? { connectionString: this.options.connection } : this.options.connection;
    const client = new pg.Client({ ...config, application_name: LEADERSHIP_APPLICATION_NAME, keepAlive: true });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    await client.connect();
    if (this.stopped) {
      await client.end().catch(() => undefined);
      throw new Error('leadership stopped');
    }
    this.client = client;
    return client;
  }

  /** The connection is gone, and with it the lock: stop leading and ask again later. */
  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.drop();
    if (!this.stopped) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.attempt(), this.options.retryMs);
    }
  }

  private drop(): void {
    const client = this.client;
    this.client = undefined;
    this.setLeading(false);
    void client?.end().catch(() => undefined);
  }

  private setLeading(leading: boolean): void {
    if (this.held === leading) return;
    this.held = leading;
    this.options.onChange?.(leading);
  }
}
