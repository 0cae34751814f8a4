// The WAL consumer: one per database at a time (elected by an advisory lock), it decodes the slot and logs changes in batches.
import type pg from 'pg';
import type { LoggedRow } from './batch.js';
import { LogWriter } from './log-writer.js';
import { ReplicationStream } from './replication-stream.js';
import { recordGap, setUpCapturePath, WAL_PUBLICATION } from './setup.js';
import { StreamSession } from './stream-session.js';

/**
 * What went wrong while consuming: the stream was `interrupted` (retried quietly), the slot was lost to
 * max_slot_wal_keep_size or dropped (made again, with a gap in the log), or a `gap` was found at start.
 */
export type WalTrouble = 'interrupted' | 'slot_lost' | 'slot_dropped' | 'gap';

export interface WalConsumerOptions {
  /** Pool for the log and the registry. */
  readonly pool: pg.Pool;
  /** Connection settings for the replication connection (the pool's by default). */
  readonly connection: pg.ClientConfig;
  /** Told when this process starts or stops consuming the slot. */
  readonly onLeading?: (leading: boolean) => void;
  /** Told about trouble; the consumer keeps retrying. Any `trouble` but `interrupted` is what an operator must hear. */
  readonly onError?: (error: Error, trouble: WalTrouble) => void;
  /** Handed each batch this process logged, once committed, so that it can deliver it without reading it back. */
  readonly onLogged?: (rows: readonly LoggedRow[]) => void;
  /** How long to wait before trying again to become the consumer (ms, default 1000). */
  readonly retryMs?: number;
}

/** How soon a reader whose stream ended tries to read again. */
const RESTART_MS = 100;
/** Every consumer of every process takes this lock of its database's session to read the slot. */
const LEADER_LOCK = 7_305_211_486_027_640_141n;

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
        // A stream closed by stop() is no trouble to report.
        if (this.running) this.options.onError?.(error instanceof Error ? error : new Error(String(error)), 'interrupted');
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
      if (path.gap) this.options.onError?.(new Error(`${path.gap}; resumes from before now are answered as unavailable`), 'gap');
      const writer = await LogWriter.open(this.options.connection, path.slot);
      const session = new StreamSession(this.options.pool, writer.client, stream, this.options.onLogged);
      try {
        await session.prepare();
        try {
          await stream.start({
            slot: path.slot,
            publication: WAL_PUBLICATION,
            startLsn: 0n,
            skipOrigins: writer.skipsOwnWrites,
            ignoresRelation: (relationId) => session.ignores(relationId),
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
    this.options.onError?.(
      new Error(
        `the replication slot ${slot} ${lost ? 'was lost (it held more WAL than max_slot_wal_keep_size allows)' : 'was dropped'}: making it again; changes committed meanwhile are not in the log, and resumes from before now are answered as unavailable (${message})`,
      ),
      lost ? 'slot_lost' : 'slot_dropped',
    );
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
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeSleeper = done;
    });
  }
}
