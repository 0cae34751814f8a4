// One logical replication connection: streams a slot's pgoutput messages and confirms what the consumer has stored.
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import pg from 'pg';
import { decodePgOutput, formatLsn, type Lsn, type PgOutputMessage } from './pgoutput.js';

/**
 * Session settings, as startup options since a walsender does not take all of them by SET: stable text
 * forms of values, and wal_sender_timeout so that PostgreSQL drops a hung consumer within 5 s and
 * another can take the slot over.
 */
const SESSION_OPTIONS = '-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex -c wal_sender_timeout=5s';

/**
 * How often the confirmed position is sent unasked: well within wal_sender_timeout, so that a paused
 * stream (which reads no keepalives, and so answers none) is not taken for a hung one.
 */
const STATUS_INTERVAL_MS = 2_000;

/** How long close() waits for the server to end streaming (and release the slot) before cutting the connection. */
const CLOSE_TIMEOUT_MS = 5_000;

/** 2000-01-01 UTC, from which the protocol counts its timestamps in microseconds. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

/** The parts of pg's connection that copy-both mode needs, which @types/pg does not declare. */
interface WireConnection extends EventEmitter {
  readonly stream: Duplex;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

export interface ReplicationStreamOptions {
  /** pg connection settings (connectionString etc.); the stream adds replication: 'database'. */
  readonly connection: pg.ClientConfig;
}

export interface StartOptions {
  readonly slot: string;
  readonly publication: string;
  /** Where to start; 0n lets the slot start at its confirmed_flush_lsn. */
  readonly startLsn: Lsn;
  /** Leave out changes made under a replication origin (PostgreSQL 16 and later: pgoutput's `origin 'none'`). */
  readonly skipOrigins?: boolean;
  /** Row changes of relations this answers true for are dropped undecoded (tables the consumer never logs). */
  ignoresRelation?(relationId: number): boolean;
  /** Called for every decoded pgoutput message, in stream order, with the XLogData's WAL start position. */
  onMessage(message: PgOutputMessage, walStart: Lsn): void;
  /** Called for each primary keepalive with its walEnd (the server's current end of WAL). */
  onKeepalive?(walEnd: Lsn): void;
}

/**
 * A replication connection (replication=database) that streams one slot through the pgoutput plugin.
 * The server forgets WAL only up to the position passed to `confirm`, so what the consumer has not
 * stored is sent again on the next start.
 */
export class ReplicationStream {
  /** Resolves when the connection ends, with the error that ended it (undefined on close()). */
  readonly ended: Promise<Error | undefined>;
  private confirmed: Lsn = 0n;
  private streaming = false;
  private closing = false;
  private failure: Error | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  /** Settles when the START_REPLICATION command completes, by error or by the end of streaming. */
  private streamingDone: Promise<void> = Promise.resolve();

  private constructor(private readonly client: pg.Client) {
    client.on('error', (error) => this.fail(error));
    this.ended = new Promise((resolve) => {
      client.once('end', () => {
        clearInterval(this.statusTimer);
        resolve(this.closing ? undefined : (this.failure ?? new Error('the replication connection ended')));
      });
    });
  }

  static async connect(options: ReplicationStreamOptions): Promise<ReplicationStream> {
    const { connection } = options;
    const config: pg.ClientConfig & { replication: 'database' } = {
      ...connection,
      replication: 'database',
      options: connection.options ? `${SESSION_OPTIONS} ${connection.options}` : SESSION_OPTIONS,
    };
    const client = new pg.Client(config);
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    return new ReplicationStream(client);
  }

  /** Simple-protocol SQL before start; rows as pg returns them. Takes no bound parameters: callers escape. */
  async query<R = Record<string, unknown>>(sql: string): Promise<R[]> {
    return (await this.client.query(sql)).rows as R[];
  }

  /**
   * Starts streaming the slot from `startLsn` and resolves once the server is in copy-both mode;
   * rejects with the server's error (its `code`: 55006 slot in use, 42704 no such slot, 55000 slot
   * invalidated), after which the connection is still open for another try or close().
   */
  start(options: StartOptions): Promise<void> {
    const sql =
      `START_REPLICATION SLOT ${quoteIdentifier(options.slot)} LOGICAL ${formatLsn(options.startLsn)} ` +
      `(proto_version '1', publication_names '${options.publication.replaceAll("'", "''")}'${options.skipOrigins ? ", origin 'none'" : ''})`;
    const connection = this.wire();
    if (options.startLsn > this.confirmed) this.confirmed = options.startLsn;
    return new Promise((resolve, reject) => {
      const onCopyData = (message: { chunk: Buffer }): void => {
        if (this.closing || this.failure) return;
        try {
          this.receive(message.chunk, options);
        } catch (error) {
          this.fail(error as Error);
        }
      };
      const onStart = (): void => {
        this.streaming = true;
        connection.on('copyData', onCopyData);
        this.statusTimer = setInterval(() => this.sendStatus(), STATUS_INTERVAL_MS);
        resolve();
      };
      connection.once('replicationStart', onStart);
      this.streamingDone = new Promise((done) => {
        this.client.query(sql, (error: Error | null) => {
          connection.off('replicationStart', onStart);
          connection.off('copyData', onCopyData);
          if (!this.streaming) reject(error ?? new Error('START_REPLICATION completed without streaming'));
          else if (!this.closing) this.fail(error ?? new Error('the server ended replication'));
          this.streaming = false;
          done();
        });
      });
    });
  }

  /** Tells the server everything up to `lsn` is written and flushed; only ever moves forward. */
  confirm(lsn: Lsn): void {
    if (lsn <= this.confirmed) return;
    this.confirmed = lsn;
    this.sendStatus();
  }

  /** Stops reading from the socket (backpressure); the confirmed position is still sent. */
  pause(): void {
    this.wire().stream.pause();
  }

  resume(): void {
    this.wire().stream.resume();
  }

  /** Ends streaming, so that the server releases the slot before this resolves, and closes the connection. */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      clearInterval(this.statusTimer);
      if (this.streaming) {
        this.resume();
        this.wire().endCopyFrom();
        await Promise.race([this.streamingDone, new Promise((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref())]);
      }
      await this.client.end().catch(() => undefined);
    }
    await this.ended;
  }

  private receive(chunk: Buffer, options: StartOptions): void {
    const kind = chunk[0];
    if (kind === 0x77) {
      // 'w' XLogData: walStart, walEnd, sendTime, then the pgoutput message
      const data = chunk.subarray(25);
      const tag = data[0];
      // 'I', 'U', 'D' name their relation first: skip decoding the rows of ignored ones.
      if ((tag === 0x49 || tag === 0x55 || tag === 0x44) && data.length >= 5 && options.ignoresRelation?.(data.readUInt32BE(1))) return;
      options.onMessage(decodePgOutput(data), chunk.readBigUInt64BE(1));
    } else if (kind === 0x6b) {
      // 'k' primary keepalive: walEnd, sendTime, replyRequested
      options.onKeepalive?.(chunk.readBigUInt64BE(1));
      if (chunk[17] === 1) this.sendStatus();
    }
  }

  /** Standby Status Update: written = flushed = applied = the confirmed position. */
  private sendStatus(): void {
    if (!this.streaming || this.closing) return;
    const status = Buffer.alloc(34);
    status.write('r', 0);
    status.writeBigUInt64BE(this.confirmed, 1);
    status.writeBigUInt64BE(this.confirmed, 9);
    status.writeBigUInt64BE(this.confirmed, 17);
    status.writeBigInt64BE(BigInt(Date.now() - PG_EPOCH_MS) * 1000n, 25); // then replyRequested = 0
    this.wire().sendCopyFromChunk(status);
  }

  /** Ends the connection with `error` (the first one wins). */
  private fail(error: Error): void {
    if (this.closing) return;
    this.failure ??= error;
    void this.client.end().catch(() => undefined);
  }

  private wire(): WireConnection {
    return (this.client as unknown as { connection: WireConnection }).connection;
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
