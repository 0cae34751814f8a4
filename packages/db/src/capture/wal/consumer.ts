// The WAL consumer: one per database at a time (elected by an advisory lock), it decodes the slot and logs changes in batches.
import type pg from 'pg';
import type { CaptureEvent } from '../names.js';
import { writeBatch, type LoggedRow, type WalChange, type WalRelation } from './batch.js';
import { parseLsn, type Lsn, type PgOutputMessage, type TupleValue } from './pgoutput.js';
import { CaptureRegistry, REGISTRY_TABLES } from './registry.js';
import { LogWriter } from './log-writer.js';
import { ReplicationStream } from './replication-stream.js';
import { recordGap, setUpCapturePath, WAL_PUBLICATION } from './setup.js';

export interface WalConsumerOptions {
  /** Pool for the log and the registry. */
  readonly pool: pg.Pool;
  /** Connection settings for the replication connection (the pool's by default). */
  readonly connection: pg.ClientConfig;
  /** Told when this process starts or stops consuming the slot. */
  readonly onLeading?: (leading: boolean) => void;
  /** Told about trouble; the consumer keeps retrying. `loud` marks what an operator must hear (a slot lost). */
  readonly onError?: (error: Error, loud: boolean) => void;
  /** Handed each batch this process logged, once committed, so that it can deliver it without reading it back. */
  readonly onLogged?: (rows: readonly LoggedRow[]) => void;
  /** How long to wait before trying again to become the consumer (ms, default 1000). */
  readonly retryMs?: number;
}

/** How soon a reader whose stream ended tries to read again. */
const RESTART_MS = 100;
/** Most changes in one logged batch; a larger transaction is logged in several. */
const MAX_BATCH = 1000;
/** Queued messages at which the stream is paused, until the consumer takes them. */
const PAUSE_AT = 20_000;
/**
 * How often the leading consumer records that it reads the slot (capture_state.wal_consumer_seen_at,
 * the lag in seconds of `status` and /metrics): at most this often, and at least every 1.5 times it.
 */
const SEEN_EVERY_MS = 10_000;
/** Every consumer of every process takes this lock of its database's session to read the slot. */
const LEADER_LOCK = 7_305_211_486_027_640_141n;

type QueueItem = { readonly message: PgOutputMessage } | { readonly keepalive: Lsn };

interface OpenTransaction {
  readonly commitLsn: Lsn;
  readonly commitTime: Date;
  /** Changes of the transaction already in the log when this consumer started (a takeover). */
  readonly skip: number;
  ordinal: number;
}

/**
 * Runs in every server process (and `nself realtime listen`) of a database whose capture path is the
 * WAL. The one holding the leader lock streams the slot from its confirmed position, logs the changes
 * of captured tables with `writeBatch`, and confirms a transaction's end to the slot only once its
 * changes are committed in the log; the others retry every second, so one takes over within a few
 * seconds of the consumer dying (PostgreSQL ends a silent replication connection after 5 s).
 */
export class WalConsumer {
  private running = true;
  private stream: ReplicationStream | undefined;
  private leadingValue = false;
  private readonly loop: Promise<void>;
  private wakeSleeper: () => void = () => undefined;

  constructor(private readonly options: WalConsumerOptions) {
    this.loop = this.run();
  }

  /** Whether this process consumes the slot now. */
  get leading(): boolean {
    return this.leadingValue;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wakeSleeper();
    await this.stream?.close().catch(() => undefined);
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        const led = await this.leadOnce();
        failures = led ? 0 : failures;
      } catch (error) {
        failures = this.leadingValue ? 0 : failures + 1;
        this.options.onError?.(error instanceof Error ? error : new Error(String(error)), false);
      }
      // A reader whose stream ended tries again at once (its old connection may hold the slot a moment
      // longer); the others, and repeated failures, wait.
      const wasLeading = this.leadingValue;
      this.setLeading(false);
      await this.sleep(wasLeading ? RESTART_MS : Math.min(5_000, (this.options.retryMs ?? 1_000) * 2 ** Math.min(failures, 2)));
    }
  }

  /** Becomes the consumer if no one else is, and streams until the connection ends; false when another leads. */
  private async leadOnce(): Promise<boolean> {
    const stream = await ReplicationStream.connect({ connection: this.options.connection });
    this.stream = stream;
    try {
      const [lock] = await stream.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${LEADER_LOCK}) AS locked`);
      if (!lock?.locked || !this.running) return false;
      const path = await setUpCapturePath(this.options.pool);
      if (path.path !== 'wal') throw new Error(`the WAL capture path is not available: ${path.reason}`);
      if (path.gap) this.options.onError?.(new Error(`${path.gap}; resumes from before now are answered as unavailable`), true);
      const writer = await LogWriter.open(this.options.connection, path.slot);
      const session = new StreamSession(this.options.pool, writer.client, stream, this.options.onLogged);
      try {
        await session.prepare();
        try {
          await stream.start({
            slot: path.slot, publication: WAL_PUBLICATION, startLsn: 0n, skipOrigins: writer.skipsOwnWrites,
            onMessage: (message) => session.push({ message }),
            onKeepalive: (walEnd) => session.push({ keepalive: walEnd }),
          });
        } catch (error) {
          await this.answerStartFailure(error, path.slot);
          return true;
        }
        this.setLeading(true);
        session.recordSeenWhileLeading();
        const ended = await Promise.race([stream.ended, session.failed]);
        if (ended && this.running) throw ended;
        return true;
      } finally {
        session.close();
        await writer.close();
      }
    } finally {
      this.stream = undefined;
      await stream.close().catch(() => undefined);
    }
  }

  /**
   * A slot that cannot be read is made again when it is gone for good (dropped, or lost to
   * max_slot_wal_keep_size), and the gap recorded so that resumes from before it are answered.
   */
  private async answerStartFailure(error: unknown, slot: string): Promise<void> {
    const code = (error as { code?: string }).code;
    const message = (error as Error).message ?? String(error);
    if (code === '55006') return; // another process reads it (a consumer of an older session); retry
    const lost = code === '55000' && /invalidated|can no longer|cannot read from logical replication slot/i.test(message);
    if (code !== '42704' && !lost) throw error;
    this.options.onError?.(new Error(`the replication slot ${slot} ${lost ? 'was lost (it held more WAL than max_slot_wal_keep_size allows)' : 'was dropped'}: making it again; changes committed meanwhile are not in the log, and resumes from before now are answered as unavailable (${message})`), true);
    await recordGap(this.options.pool, `the replication slot ${slot} ${lost ? 'was lost' : 'was dropped'}: changes committed before it was made again are not in the log`);
    if (lost) await this.options.pool.query('SELECT pg_catalog.pg_drop_replication_slot($1)', [slot]);
    await setUpCapturePath(this.options.pool);
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leadingValue) return;
    this.leadingValue = leading;
    this.options.onLeading?.(leading);
  }

  private sleep(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void { clearTimeout(timer); resolve(); }
      this.wakeSleeper = done;
    });
  }
}

/** One leadership: the stream's messages in order, turned into logged batches and confirmations. */
class StreamSession {
  private readonly registry = new CaptureRegistry();
  private readonly relations = new Map<number, WalRelation & { readonly replicaIdentity: string }>();
  private readonly queue: QueueItem[] = [];
  private draining = false;
  private paused = false;
  private transaction: OpenTransaction | undefined;
  private batch: WalChange[] = [];
  /** The end of the last transaction wholly handled; confirmed once the batch holding it is written. */
  private handledEnd: Lsn = 0n;
  /** The WAL place of the newest change in the log: transactions up to it were logged by an earlier consumer. */
  private writtenLsn: Lsn = 0n;
  private writtenIndex = 0;
  private textual = new Set<number>();
  /** When this session last recorded itself in capture_state.wal_consumer_seen_at (ms), and the timer that asks again. */
  private seenAt = 0;
  private seenTimer: NodeJS.Timeout | undefined;
  private failResolve: (error: Error) => void = () => undefined;
  readonly failed = new Promise<Error>((resolve) => { this.failResolve = resolve; });

  constructor(
    private readonly pool: pg.Pool,
    /** The consumer's own connection for the log's batches (`LogWriter`). */
    private readonly writer: pg.Client,
    private readonly stream: ReplicationStream,
    private readonly onLogged?: (rows: readonly LoggedRow[]) => void,
  ) {}

  async prepare(): Promise<void> {
    await this.registry.load(this.pool);
    const { rows } = await this.pool.query<{ lsn: string | null; index: number }>(
      'SELECT wal_commit_lsn::text AS lsn, wal_change_index AS index FROM realtime.capture_state');
    const state = rows[0];
    if (state?.lsn) {
      this.writtenLsn = parseLsn(state.lsn);
      this.writtenIndex = state.index;
    }
  }

  /**
   * Records now, and then regularly, that a consumer reads the slot: an idle stream may bring no
   * keepalive, so a timer queues an empty one, whose flush records it. Queued, not written
   * directly: a consumer stuck on a write records nothing.
   */
  recordSeenWhileLeading(): void {
    this.seenTimer = setInterval(() => this.push({ keepalive: 0n }), SEEN_EVERY_MS / 2);
    this.seenTimer.unref();
    this.push({ keepalive: 0n });
  }

  close(): void {
    clearInterval(this.seenTimer);
    this.seenTimer = undefined;
  }

  push(item: QueueItem): void {
    this.queue.push(item);
    if (!this.paused && this.queue.length >= PAUSE_AT) {
      this.paused = true;
      this.stream.pause();
    }
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        // What has arrived is one batch (or several of MAX_BATCH), logged before what arrives meanwhile.
        const items = this.queue.splice(0);
        if (this.paused) {
          this.paused = false;
          this.stream.resume();
        }
        for (const item of items) {
          if ('keepalive' in item) this.onKeepalive(item.keepalive);
          else this.handle(item.message);
          if (this.batch.length >= MAX_BATCH) await this.flush();
        }
        if (this.queue.length === 0) await this.flush();
      }
    } catch (error) {
      this.failResolve(error instanceof Error ? error : new Error(String(error)));
      this.queue.length = 0;
    } finally {
      this.draining = false;
    }
  }

  private handle(message: PgOutputMessage): void {
    switch (message.tag) {
      case 'relation':
        this.relations.set(message.relationId, message);
        this.textual.delete(message.relationId);
        return;
      case 'begin': {
        const skip = message.finalLsn < this.writtenLsn ? Number.MAX_SAFE_INTEGER : message.finalLsn === this.writtenLsn ? this.writtenIndex : 0;
        this.transaction = { commitLsn: message.finalLsn, commitTime: message.commitTime, skip, ordinal: 0 };
        return;
      }
      case 'insert':
        this.record(message.relationId, 'INSERT', message.new, null, false);
        return;
      case 'update':
        // Without a changed key the stream sends no old tuple: the key is the new row's (Supabase's old_record).
        this.record(message.relationId, 'UPDATE', message.new, message.old ?? message.key ?? message.new, message.old === null);
        return;
      case 'delete':
        this.record(message.relationId, 'DELETE', null, message.old ?? message.key, message.old === null);
        return;
      case 'truncate':
        for (const relationId of message.relationIds) this.record(relationId, 'TRUNCATE', null, null, false);
        return;
      case 'commit':
        this.transaction = undefined;
        this.handledEnd = message.endLsn;
        return;
      default:
        return;
    }
  }

  private record(relationId: number, operation: CaptureEvent, fresh: readonly TupleValue[] | null, old: readonly TupleValue[] | null, oldIsKey: boolean): void {
    const transaction = this.transaction;
    const relation = this.relations.get(relationId);
    if (!transaction || !relation) throw new Error(`the WAL stream sent a ${operation} outside a transaction or for an undescribed relation ${relationId}`);
    if (relation.schema === 'realtime') {
      if (REGISTRY_TABLES.has(relation.name)) this.registry.apply(relation.name, relation.columns, operation, fresh, old);
      if (relation.name === 'changes' && operation === 'INSERT' && fresh) this.forgetLoggedByTrigger(relation, fresh);
      return;
    }
    transaction.ordinal += 1;
    if (transaction.ordinal <= transaction.skip) return;
    const captured = this.registry.capture(relation.schema, relation.name);
    if (!captured) return;
    this.batch.push({
      commitLsn: transaction.commitLsn, index: transaction.ordinal, commitTime: transaction.commitTime, operation, relation,
      subscriptionId: captured.subscriptionId, new: fresh, old, oldIsKey,
    });
  }

  /**
   * A capture trigger still on the trigger path (the WAL path was being set up as it ran) logged this
   * change itself: drop the WAL's copies of that table's changes in this transaction.
   */
  private forgetLoggedByTrigger(changes: WalRelation, tuple: readonly TupleValue[]): void {
    const column = (name: string): TupleValue => tuple[changes.columns.findIndex((c) => c.name === name)] ?? null;
    const schema = column('schema_name');
    const table = column('table_name');
    if (typeof schema !== 'string' || typeof table !== 'string') return;
    const commitLsn = this.transaction?.commitLsn;
    this.batch = this.batch.filter((change) => change.commitLsn !== commitLsn || change.relation.schema !== schema || change.relation.name !== table);
  }

  /** Idle: with no transaction open and nothing waiting, everything up to `walEnd` is handled. */
  private onKeepalive(walEnd: Lsn): void {
    if (this.transaction === undefined && walEnd > this.handledEnd) this.handledEnd = walEnd;
  }

  /**
   * Logs the batch (if any) and confirms the end of the last transaction wholly handled: a
   * transaction still open may have changes in the batch, and is streamed again after a restart,
   * its logged changes skipped by their place.
   */
  private async flush(): Promise<void> {
    const changes = this.batch;
    const confirmable = this.handledEnd;
    if (changes.length > 0) {
      this.batch = [];
      await this.write(changes);
      const last = changes.at(-1) as WalChange;
      this.writtenLsn = last.commitLsn;
      this.writtenIndex = last.index;
    }
    if (confirmable > 0n) this.stream.confirm(confirmable);
    await this.recordSeen();
  }

  /** One cheap UPDATE, at most every SEEN_EVERY_MS: PostgreSQL does not keep when a slot was last read. */
  private async recordSeen(): Promise<void> {
    if (this.seenTimer === undefined || Date.now() - this.seenAt < SEEN_EVERY_MS) return;
    this.seenAt = Date.now();
    await this.pool.query('UPDATE realtime.capture_state SET wal_consumer_seen_at = now()');
  }

  private async write(changes: readonly WalChange[]): Promise<void> {
    let logged: LoggedRow[] | null;
    try {
      logged = await writeBatch(this.writer, changes, this.textual);
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      if (!/^(42|22)/.test(code)) throw error;
      // A table dropped or changed since the change: log its values as text rather than stop.
      for (const change of changes) this.textual.add(change.relation.relationId);
      logged = await writeBatch(this.writer, changes, this.textual);
    }
    if (logged === null) throw new Error('another consumer logged these changes: stepping down');
    this.onLogged?.(logged);
  }
}
