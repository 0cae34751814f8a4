// The change feed: committed table changes in position order, exactly once, surviving lost connections.
import type pg from 'pg';
import { EXACT_JSON_TYPES } from '../exact-json-parse.js';
import { NotificationListener, type NotificationHandler } from '../notification-listener.js';
import type { Queryable } from '../queryable.js';
import { describeTable, type TableColumn } from './table-description.js';
import { displayTableName, type CaptureEvent, type TableName } from './names.js';

/**
 * The channel on which transactions that position their changes at commit announce the positions
 * (realtime.position_at_commit): a wake-up with no rows, since any database login may LISTEN.
 */
const ANNOUNCE_CHANNEL = 'realtime:changes';

/** A change as the log gives it. */
export interface ChangeRow {
  position: string | number;
  changed_at: Date;
  operation: CaptureEvent;
  schema_name: string;
  table_name: string;
  new_record: Record<string, unknown> | null;
  old_record: Record<string, unknown> | null;
  writer_pid: number;
  subscription_id: string | null;
  access_version?: string | null;
}

/** One committed change of a subscribed table. */
export interface Change {
  /** Place in the change log: dense, starting at 1, in commit order (docs/capture.md). */
  readonly position: number;
  /** When the change was made (clock time inside the writing transaction). */
  readonly commitTimestamp: Date;
  readonly operation: CaptureEvent;
  readonly schema: string;
  readonly table: string;
  /** The row after the change (INSERT, UPDATE), else null. Numbers a JavaScript number cannot hold are ExactNumbers. */
  readonly new: Record<string, unknown> | null;
  /** The row before the change (UPDATE, DELETE), else null. */
  readonly old: Record<string, unknown> | null;
  /** The table's current columns and their types. */
  readonly columns: readonly ChangeColumn[];
  /** The PostgreSQL backend that made the change (0 when read from the write-ahead log, which does not say). */
  readonly writerPid: number;
  /** The table's subscription; null for a table captured as part of a watched schema. */
  readonly subscriptionId: string | null;
  /**
   * The table's `realtime.access_version` in the snapshot the change was read in (null when not read):
   * while it stays the same, so does every privilege and row policy of the table.
   */
  readonly accessVersion: string | null;
}

/** Which changes to read: after a position, optionally only some tables. */
export interface ChangeQuery {
  /** Read changes with a position greater than this one (0: from the start of the log). */
  readonly after: number;
  readonly tables?: readonly TableName[];
  readonly limit?: number;
}

/**
 * Sequences every change committed so far and returns the newest position: the position of "now",
 * from which a new consumer starts so that it receives exactly the changes committed after this call.
 */
export async function currentPosition(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ position: string }>('SELECT realtime.sequence_changes() AS position');
  return Number(rows[0]?.position ?? 0);
}

/** Reads sequenced changes after `query.after`, in position order (call `currentPosition` first to sequence). */
export async function readChanges(db: Queryable, query: ChangeQuery, columns = new ColumnCache()): Promise<Change[]> {
  const tables = query.tables ?? null;
  const { rows } = await db.query<ChangeRow>({
    text: `SELECT position, changed_at, operation, schema_name, table_name, new_record, old_record, writer_pid, subscription_id
             FROM realtime.changes
            WHERE position > $1 AND ($2::text[] IS NULL OR (schema_name, table_name) IN (SELECT * FROM unnest($2::text[], $3::text[])))
            ORDER BY position LIMIT $4`,
    values: [query.after, tables?.map((t) => t.schema) ?? null, tables?.map((t) => t.table) ?? null, query.limit ?? 1000],
    types: EXACT_JSON_TYPES,
  });
  return toChanges(db, rows, columns);
}

/**
 * Sequences what has committed and reads the page after `query.after` up to the newest position, in
 * one round trip (`realtime.next_changes`). Returns the page, each change with its table's access
 * version, and the newest position.
 */
export async function nextChanges(db: Queryable, query: ChangeQuery, columns = new ColumnCache()): Promise<{ newest: number; changes: Change[] }> {
  const tables = query.tables ?? null;
  const { rows } = await db.query<Omit<ChangeRow, 'position'> & { newest: string; position: string | null }>({
    text: 'SELECT * FROM realtime.next_changes($1, $2::text[], $3::text[], $4)',
    values: [query.after, tables?.map((t) => t.schema) ?? null, tables?.map((t) => t.table) ?? null, query.limit ?? 1000],
    types: EXACT_JSON_TYPES,
  });
  const page = rows.filter((row): row is typeof row & { position: string } => row.position !== null);
  return { newest: Number(rows[0]?.newest ?? query.after), changes: await toChanges(db, page, columns) };
}

async function toChanges(db: Queryable, rows: readonly ChangeRow[], columns: ColumnCache): Promise<Change[]> {
  const changes: Change[] = [];
  for (const row of rows) {
    const name = { schema: row.schema_name, table: row.table_name };
    changes.push({
      position: Number(row.position),
      commitTimestamp: row.changed_at,
      operation: row.operation,
      schema: row.schema_name,
      table: row.table_name,
      new: row.new_record,
      old: row.old_record,
      columns: await columns.of(db, name),
      writerPid: row.writer_pid,
      subscriptionId: row.subscription_id,
      accessVersion: row.access_version ?? null,
    });
  }
  return changes;
}

/** A column as a change lists it: its name and SQL type (`format_type`). */
export type ChangeColumn = Pick<TableColumn, 'name' | 'type'>;

/** Remembers each table's columns (from its description) so that a batch costs one read of the catalog per table, not per change. */
export class ColumnCache {
  private readonly known = new Map<string, readonly ChangeColumn[]>();

  /** The columns of `table`, or none when it no longer exists. */
  async of(db: Queryable, table: TableName): Promise<readonly ChangeColumn[]> {
    const key = displayTableName(table);
    const cached = this.known.get(key);
    if (cached) return cached;
    const description = await describeTable(db, table);
    const columns = (description?.columns ?? []).map(({ name, type }) => ({ name, type }));
    this.known.set(key, columns);
    return columns;
  }

  /** Forgets everything (after DDL may have changed a table). */
  clear(): void {
    this.known.clear();
  }
}

export interface ChangeFeedOptions {
  /** Pool for reading the log. */
  readonly pool: pg.Pool;
  /** The process's LISTEN connection to share; without one the feed opens its own (from `connectionString`, or the pool's options). */
  readonly listener?: NotificationListener;
  /** Connection string for a LISTEN connection of the feed's own; defaults to the pool's. */
  readonly connectionString?: string;
  /** Start after this position, or at "now" (the default). */
  readonly from?: number | 'now';
  /** Only these tables; all subscribed tables when omitted. */
  readonly tables?: readonly TableName[];
  /** Receives each batch in order; the feed advances only after it resolves. */
  readonly onChanges: (changes: readonly Change[]) => Promise<void> | void;
  /** Told about connection and read failures; the feed keeps retrying. */
  readonly onError?: (error: Error) => void;
  /** Most changes per batch (default 500). */
  readonly batchSize?: number;
  /**
   * Ask notify-mode writers to position their changes at commit and announce them (default true;
   * capture.md, "Positions at commit"); false leaves every change to sequencing rounds, at no cost
   * to the writers.
   */
  readonly announcements?: boolean;
  /** Polling when idle, in ms: grows from `min` to `max` (defaults 10 and 1000; 250 when a table is in poll mode). */
  readonly pollIntervalMs?: { readonly min: number; readonly max: number };
}

const RETRY_MAX_MS = 5_000;
const CHANNEL_REFRESH_MS = 5_000;

/**
 * Delivers committed changes in position order, each exactly once, starting after a position.
 * NOTIFY on the tables' channels only wakes it: every wake (and every poll) re-reads the log from the
 * last delivered position, so changes committed while the LISTEN connection was down, or PostgreSQL
 * restarted, are delivered when it comes back, and none twice.
 */
export class ChangeFeed {
  private positionValue: number;
  private running = true;
  private woken = false;
  private wakeSleeper: () => void = () => undefined;
  private listener: NotificationListener | undefined;
  /** Channel → this feed's handler of it, on the listener. */
  private readonly listening = new Map<string, NotificationHandler>();
  private stopReconnectWatch: () => void = () => undefined;
  private channelsCheckedAt = 0;
  private pollMode = false;
  private readonly columns = new ColumnCache();
  /** Whether this feed asks writers for announcements now (see `askForAnnouncements`). */
  private asking: boolean;
  private readyResolve: () => void = () => undefined;
  /** Settles after the first attempt to read, so that `start` returns a feed that is already listening. */
  private readonly ready = new Promise<void>((resolve) => {
    this.readyResolve = resolve;
  });
  private readonly loop: Promise<void>;
  /** Reads of the log and offered changes take turns, so that each change is delivered once, in order. */
  private turn: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly options: ChangeFeedOptions,
    start: number,
  ) {
    this.positionValue = start;
    this.asking = options.announcements !== false;
    this.loop = this.run();
  }

  /** Starts a feed; resolves once the starting position is known (so "now" means now). */
  static async start(options: ChangeFeedOptions): Promise<ChangeFeed> {
    const start = options.from === undefined || options.from === 'now' ? await currentPosition(options.pool) : options.from;
    const feed = new ChangeFeed(options, start);
    await feed.ready;
    return feed;
  }

  /** The position of the last change delivered (or the starting position). */
  get position(): number {
    return this.positionValue;
  }

  /** Listens at once on the channels of tables subscribed since the feed last looked, and reads the log. */
  refresh(): void {
    this.channelsCheckedAt = 0;
    this.wake();
  }

  /**
   * Starts or stops asking writers for announcements (only when the feed was started with them
   * allowed). A feed nobody reads from stops asking, so that writers stop paying for positions at
   * commit once the request lapses (within a minute); it then listens on the tables' channels again.
   */
  askForAnnouncements(wanted: boolean): void {
    const asking = wanted && this.options.announcements !== false;
    if (asking === this.asking) return;
    this.asking = asking;
    this.refresh();
  }

  /**
   * Delivers changes this process has just logged (the WAL consumer's batch, read back by its own
   * statement) without reading the log again: only when they continue the feed's position, else the
   * feed reads them from the log as usual. Saves the announcement's trip and a query per batch.
   */
  offer(rows: readonly ChangeRow[]): Promise<void> {
    return this.inTurn(async () => {
      const first = rows[0];
      const last = rows.at(-1);
      if (!this.running || !first || !last || Number(first.position) !== this.positionValue + 1) return;
      const watched = rows.filter((row) => this.watches(row.schema_name, row.table_name));
      const changes = await toChanges(this.options.pool, watched, this.columns);
      if (changes.length > 0) await this.options.onChanges(changes);
      this.positionValue = Number(last.position);
    });
  }

  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const run = this.turn.then(work);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /** Stops reading, waits for the batch in hand to be delivered, and stops listening (closing its own LISTEN connection). */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    this.stopReconnectWatch();
    const listener = this.listener;
    if (!listener) return;
    if (listener === this.options.listener) {
      for (const [channel, handler] of [...this.listening]) await listener.unlisten(channel, handler);
    } else {
      await listener.stop();
    }
    this.listening.clear();
  }

  private async run(): Promise<void> {
    let idleDelay = this.interval().min;
    let failures = 0;
    while (this.running) {
      let delivered: number;
      this.woken = false;
      try {
        await this.ensureListening();
        delivered = await this.inTurn(() => this.step());
        failures = 0;
      } catch (error) {
        failures += 1;
        this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
        this.readyResolve();
        await this.sleep(Math.min(RETRY_MAX_MS, 100 * 2 ** Math.min(failures, 6)));
        continue;
      }
      this.readyResolve();
      if (delivered === this.batchSize()) continue;
      idleDelay = delivered > 0 ? this.interval().min : Math.min(this.interval().max, idleDelay * 2);
      await this.sleep(idleDelay);
    }
    this.readyResolve();
  }

  /**
   * Delivers one batch of the log after the current position and returns how many changes it had.
   * Notifications only wake the feed: it reads what they announce from the log with its own privileges.
   */
  private async step(): Promise<number> {
    const { newest, changes } = await nextChanges(
      this.options.pool,
      {
        after: this.positionValue,
        tables: this.options.tables,
        limit: this.batchSize(),
      },
      this.columns,
    );
    if (newest <= this.positionValue) return 0;
    if (changes.length > 0) await this.options.onChanges(changes);
    const last = changes.at(-1)?.position;
    this.positionValue = changes.length === this.batchSize() && last !== undefined ? last : newest;
    return changes.length;
  }

  /** Whether the feed delivers changes of this table (every table when `tables` is omitted). */
  private watches(schema: string, table: string): boolean {
    return !this.options.tables || this.options.tables.some((t) => t.schema === schema && t.table === table);
  }

  private batchSize(): number {
    return this.options.batchSize ?? 500;
  }

  private interval(): { min: number; max: number } {
    return this.options.pollIntervalMs ?? { min: 10, max: this.pollMode ? 250 : 1000 };
  }

  /**
   * Listens (on the shared LISTEN connection, or one of its own) on `realtime:changes` and on the
   * channels of watched notify-mode tables that do not announce their changes there.
   */
  private async ensureListening(): Promise<void> {
    if (this.listener && Date.now() - this.channelsCheckedAt < CHANNEL_REFRESH_MS) return;
    const { rows } = await this.options.pool.query<{ notify_channel: string; capture: string; schema_name: string; relation_name: string; announced_at_commit: boolean }>(
      'SELECT notify_channel, capture, schema_name, relation_name, announced_at_commit FROM realtime.subscriptions WHERE notify_channel IS NOT NULL',
    );
    const announcing = await this.wantAnnouncements();
    const watched = rows.filter((row) => this.watches(row.schema_name, row.relation_name));
    this.pollMode = watched.some((row) => row.capture === 'poll');
    const listener = this.listener ?? (await this.openListener());
    const wanted = new Set([ANNOUNCE_CHANNEL, ...watched.filter((row) => !(announcing && row.capture === 'notify' && row.announced_at_commit)).map((row) => row.notify_channel)]);
    for (const channel of wanted) {
      if (this.listening.has(channel)) continue;
      const handler: NotificationHandler = (payload) => {
        if (!this.delivered(channel, payload)) this.wake();
      };
      this.listening.set(channel, handler);
      await listener.listen(channel, handler);
    }
    // Channels whose changes are announced now would only send the feed to the log.
    for (const [channel, handler] of [...this.listening]) {
      if (wanted.has(channel)) continue;
      this.listening.delete(channel);
      await listener.unlisten(channel, handler);
    }
    this.channelsCheckedAt = Date.now();
  }

  /**
   * The listener the feed uses: the shared one, or a connection of its own, started now. After any
   * reconnect it reads the log (notifications may have been missed) with its column cache cleared.
   */
  private async openListener(): Promise<NotificationListener> {
    const listener =
      this.options.listener ??
      new NotificationListener({
        connection: this.options.connectionString ?? this.options.pool.options,
        onLost: () => this.wake(),
      });
    if (!this.options.listener) await listener.start();
    this.stopReconnectWatch = listener.onReconnect(() => {
      this.columns.clear();
      this.wake();
    });
    this.listener = listener;
    this.columns.clear();
    return listener;
  }

  /**
   * Asks writers to announce their changes for the next minute (`realtime.request_announcements`,
   * which writes the request about every 15 s); false when this feed does not ask, this role may not,
   * or the request waited too long on writers this time, and the tables' channels are needed.
   */
  private async wantAnnouncements(): Promise<boolean> {
    if (!this.asking) return false;
    try {
      await this.options.pool.query('SELECT realtime.request_announcements()');
      return true;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === '42501' || code === '55P03') return false;
      throw error;
    }
  }

  /**
   * Whether `note` announces only positions this feed has delivered: the batch the WAL consumer of
   * this process just logged and offered (`offer`), whose announcement needs no read of the log.
   */
  private delivered(channel: string, payload: string | undefined): boolean {
    if (channel !== ANNOUNCE_CHANNEL || !payload) return false;
    try {
      const { last } = JSON.parse(payload) as { last?: unknown };
      return typeof last === 'number' && last <= this.positionValue;
    } catch {
      return false;
    }
  }

  /** Ends the current sleep, or the next one at once if none is in progress (no wake-up is lost). */
  private wake(): void {
    this.woken = true;
    this.wakeSleeper();
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken || !this.running) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeSleeper = () => undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeSleeper = done;
    });
  }
}
