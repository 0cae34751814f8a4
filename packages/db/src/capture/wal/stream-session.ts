// One leadership of the WAL consumer: the stream's messages in order, turned into logged batches and confirmations.
import type pg from 'pg';
import type { CaptureEvent } from '../names.js';
import { writeBatch, type LoggedRow, type WalChange, type WalRelation } from './batch.js';
import { parseLsn, type Lsn, type PgOutputMessage, type TupleValue } from './pgoutput.js';
import { CaptureRegistry, REGISTRY_TABLES } from './registry.js';
import type { ReplicationStream } from './replication-stream.js';

/** Most changes in one logged batch; a larger transaction is logged in several. */
const MAX_BATCH = 1000;
/** Queued messages at which the stream is paused, until the consumer takes them. */
const PAUSE_AT = 20_000;
/**
 * How often the leading consumer records that it reads the slot (capture_state.wal_consumer_seen_at,
 * the lag in seconds of `status` and /metrics): at most this often, and at least every 1.5 times it.
 */
const SEEN_EVERY_MS = 10_000;

type QueueItem = { readonly message: PgOutputMessage } | { readonly keepalive: Lsn };

interface OpenTransaction {
  readonly commitLsn: Lsn;
  readonly commitTime: Date;
  /** Changes of the transaction already in the log when this consumer started (a takeover). */
  readonly skip: number;
  ordinal: number;
  /** Whether any change of this transaction waits in the batch (only those can have been logged by a trigger too). */
  batched: boolean;
}

/** One leadership: the stream's messages in order, turned into logged batches and confirmations. */
export class StreamSession {
  private readonly registry = new CaptureRegistry();
  private readonly relations = new Map<number, WalRelation>();
  private readonly queue: QueueItem[] = [];
  /** Relations whose rows are dropped undecoded (`ignores`), known from their Relation messages as they arrive. */
  private readonly ignored = new Set<number>();
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
  readonly failed = new Promise<Error>((resolve) => {
    this.failResolve = resolve;
  });

  constructor(
    private readonly pool: pg.Pool,
    /** The consumer's own connection for the log's batches (`LogWriter`). */
    private readonly writer: pg.Client,
    private readonly stream: ReplicationStream,
    private readonly onLogged?: (rows: readonly LoggedRow[]) => void,
  ) {}

  async prepare(): Promise<void> {
    await this.registry.load(this.pool);
    const { rows } = await this.pool.query<{ lsn: string | null; index: number }>('SELECT wal_commit_lsn::text AS lsn, wal_change_index AS index FROM realtime.capture_state');
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

  /**
   * Rows the session would drop anyway, known by their relation: the realtime schema's own tables
   * other than the registry and the log (the broadcast log, presence, connections), so that their
   * rows, often large, are neither decoded nor queued.
   */
  ignores(relationId: number): boolean {
    return this.ignored.has(relationId);
  }

  push(item: QueueItem): void {
    if ('message' in item && item.message.tag === 'relation') {
      const { relationId, schema, name } = item.message;
      if (schema === 'realtime' && name !== 'changes' && !REGISTRY_TABLES.has(name)) this.ignored.add(relationId);
      else this.ignored.delete(relationId);
    }
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
        this.transaction = { commitLsn: message.finalLsn, commitTime: message.commitTime, skip, ordinal: 0, batched: false };
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
      // Most rows of realtime.changes are this consumer's own batches coming back: no change of theirs waits.
      if (relation.name === 'changes' && operation === 'INSERT' && fresh && transaction.batched) this.forgetLoggedByTrigger(relation, fresh);
      return;
    }
    transaction.ordinal += 1;
    if (transaction.ordinal <= transaction.skip) return;
    const captured = this.registry.capture(relation.schema, relation.name);
    if (!captured) return;
    transaction.batched = true;
    this.batch.push({
      commitLsn: transaction.commitLsn,
      index: transaction.ordinal,
      commitTime: transaction.commitTime,
      operation,
      relation,
      subscriptionId: captured.subscriptionId,
      new: fresh,
      old,
      oldIsKey,
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
