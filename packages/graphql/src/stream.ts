// `_stream` subscriptions: the rows past the cursor in pages, then each new row in commit order (none skipped or repeated when writers commit out of order) and each row updated past the cursor.
import type { ExecutionResult } from 'graphql';
import type { ChangeSource, CommittedChange } from './changes.js';
import type { StreamRead, StreamShape } from './compile.js';
import type { GraphQLEngine, PreparedOperation, Session } from './engine.js';
import { graphqlError } from './errors.js';
import type { ResultSink } from './live.js';

/**
 * Starts a stream. The order of its steps is what keeps every row once:
 * 1. the table is watched first, so every row committed after that arrives as a change;
 * 2. the rows already there are read in pages past the cursor value, in cursor order; each page's
 *    cursor values are remembered;
 * 3. the server waits until every change committed so far is in the change log (up to position S),
 *    so every row of a page has a position at or before S (on the WAL path too, where the slot's
 *    consumer numbers changes a moment after they commit);
 * 4. the changes that arrived meanwhile and after, in commit order: each inserted row is looked up as
 *    the session (so `where`, grants and row security apply) and sent unless a page already sent it.
 *    Changes past S cannot be in a page, so the remembered values are dropped once the feed passes S.
 * A row that commits late with a cursor value below one already sent is still sent: the change log's
 * commit order decides what is new, not the column alone.
 * An updated row is sent when its new cursor value is past the furthest one sent, as Hasura's polling
 * past its cursor would send it (a stream on `updated_at` sees rows as they change); an update that
 * leaves the cursor value behind is not sent.
 * A stream that fails (a statement error, or more rows waiting than `maxStreamBacklog`) sends
 * one result with the error and completes, its watch ended.
 */
export async function startStream(engine: GraphQLEngine, changes: ChangeSource, session: Session, prepared: PreparedOperation, sink: StreamSink): Promise<() => void> {
  const shape = await streamShape(engine, prepared);
  let stopWatch: () => void = () => undefined;
  const stop = () => {
    stream.stop();
    stopWatch();
  };
  const stream = new Stream(engine, session, prepared, shape, {
    next: (result) => sink.next(result),
    complete: () => {
      stop();
      sink.complete();
    },
  });
  const { schema, name } = shape.relation.info;
  stopWatch = await changes.watch([{ schema, table: name }], (batch) => stream.offer(batch));
  if (stream.ended) stopWatch();
  stream.begin(changes).catch(() => undefined);
  return stop;
}

/** Where a stream's results go, and how it ends after an error. */
export interface StreamSink extends ResultSink {
  /** The stream ended (after a result with its error); nothing follows. */
  complete(): void;
}

async function streamShape(engine: GraphQLEngine, prepared: PreparedOperation): Promise<StreamShape> {
  let shape: StreamShape | undefined;
  let failure: Error | undefined;
  await engine.executeWith(prepared, (info) => {
    try {
      shape = engine.compiler(info).streamShape();
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    }
    return null;
  });
  if (!shape) throw failure ?? new Error('the subscription has no _stream field');
  return shape;
}

class Stream {
  /** Cursor values (as text) sent from pages, until the feed passes `pagesEnd`. */
  private sentFromPages: Set<string> | undefined = new Set();
  private pagesEnd = Number.POSITIVE_INFINITY;
  private readonly waiting: CommittedChange[] = [];
  private queue: Promise<void> = Promise.resolve();
  private live = false;
  private stopped = false;
  /** Inserted and updated rows offered and not yet looked up and sent. */
  private backlog = 0;
  /** The furthest cursor value sent (as text), null before the first row: an updated row is sent when its value moves past it. */
  private furthest: string | null = null;

  constructor(
    private readonly engine: GraphQLEngine,
    private readonly session: Session,
    private readonly prepared: PreparedOperation,
    private readonly shape: StreamShape,
    private readonly sink: StreamSink,
  ) {}

  /** Sends the rows already there, then the changes that arrived meanwhile. */
  async begin(changes: ChangeSource): Promise<void> {
    try {
      let after: string | null = null;
      for (;;) {
        const page = await this.read({ kind: 'page', after, furthest: this.furthest });
        if (this.stopped) return;
        if (page.cursors.length > 0) this.sink.next(page.result);
        for (const cursor of page.cursors) this.sentFromPages?.add(cursor);
        if (page.cursors.length < this.shape.batchSize) break;
        after = page.cursors.at(-1) as string;
      }
      this.pagesEnd = await changes.position();
    } catch (error) {
      this.fail(error);
      return;
    }
    this.live = true;
    this.enqueue(this.waiting.splice(0));
  }

  /** Takes changes to deliver in order; a stream more than REALTIME_GRAPHQL_MAX_STREAM_BACKLOG rows behind ends with an error rather than holding them all. */
  offer(batch: readonly CommittedChange[]): void {
    if (this.stopped) return;
    this.backlog += rowsToLookUp(batch);
    const { maxStreamBacklog } = this.engine.limits;
    if (this.backlog > maxStreamBacklog) {
      this.fail(
        graphqlError(
          `the stream fell more than ${maxStreamBacklog} inserted or updated rows behind (REALTIME_GRAPHQL_MAX_STREAM_BACKLOG) and was ended; subscribe again from the last cursor value received`,
          'stream-backlog-exceeded',
        ),
      );
      return;
    }
    if (this.live) this.enqueue(batch);
    else this.waiting.push(...batch);
  }

  stop(): void {
    this.stopped = true;
  }

  get ended(): boolean {
    return this.stopped;
  }

  private enqueue(batch: readonly CommittedChange[]): void {
    this.queue = this.queue.then(() => this.deliver(batch)).catch((error: unknown) => this.fail(error));
  }

  /**
   * Looks up, in commit order, the rows `batch` inserted and the rows it updated whose cursor value
   * moved past the furthest one sent (the rows Hasura's polling past its cursor would send), and
   * sends them in results of at most batch_size rows. Each run of inserts or of updates is read
   * together; the runs keep their order, as each one moves the furthest value the next compares with.
   */
  private async deliver(batch: readonly CommittedChange[]): Promise<void> {
    for (const run of operationRuns(batch)) {
      if (this.stopped) break;
      await this.lookUp(cursorValues(run.changes, this.shape.column.name), run.operation === 'UPDATE');
    }
    this.backlog -= rowsToLookUp(batch);
    const newest = batch.at(-1)?.position ?? 0;
    if (newest > this.pagesEnd) this.sentFromPages = undefined;
  }

  private async lookUp(values: readonly string[], pastFurthest: boolean): Promise<void> {
    for (let start = 0; start < values.length && !this.stopped; start += this.shape.batchSize) {
      const chunk = values.slice(start, start + this.shape.batchSize);
      const page = await this.read({ kind: 'lookup', cursorValues: chunk, pastCursor: pastFurthest ? this.furthest : null, furthest: this.furthest });
      if (page.cursors.length > 0 && !this.stopped) this.sink.next(page.result);
    }
  }

  /** One read as the session: the result to send (rows a page already sent left out) and the cursor values of its rows. */
  private async read(read: StreamRead): Promise<{ result: ExecutionResult; cursors: string[] }> {
    let cursors: string[] = [];
    const result = await this.engine.asSession(this.session, (client) =>
      this.engine.executeWith(this.prepared, async (info, execution) => {
        const statement = this.engine.compiler(info).compileStream(read);
        const rows = await this.engine.query<{ data: unknown[]; cursors: string[]; furthest: string | null }>(client, statement);
        this.furthest = rows[0]?.furthest ?? this.furthest;
        const data = rows[0]?.data ?? [];
        const found = rows[0]?.cursors ?? [];
        const fresh = found.map((cursor) => read.kind === 'page' || !this.sentFromPages?.has(cursor));
        cursors = found.filter((_, index) => fresh[index]);
        return this.engine.checkRows(
          data.filter((_, index) => fresh[index]),
          info,
          execution,
        );
      }),
    );
    const [failure] = result.errors ?? [];
    if (failure) throw failure;
    return { result, cursors };
  }

  private fail(error: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.sink.next({ errors: [error as never] });
    this.sink.complete();
  }
}

/** The rows of `batch` a stream looks up: those inserted or updated. */
function rowsToLookUp(batch: readonly CommittedChange[]): number {
  return batch.reduce((count, change) => count + (change.operation === 'INSERT' || change.operation === 'UPDATE' ? 1 : 0), 0);
}

/** The inserts and updates of `batch` as runs of consecutive changes of one kind, in commit order (deletes left out). */
function operationRuns(batch: readonly CommittedChange[]): { operation: string; changes: CommittedChange[] }[] {
  const runs: { operation: string; changes: CommittedChange[] }[] = [];
  for (const change of batch) {
    if (change.operation !== 'INSERT' && change.operation !== 'UPDATE') continue;
    const last = runs.at(-1);
    if (last?.operation === change.operation) last.changes.push(change);
    else runs.push({ operation: change.operation, changes: [change] });
  }
  return runs;
}

/** The distinct cursor values of the rows `changes` left, in commit order. */
function cursorValues(changes: readonly CommittedChange[], column: string): string[] {
  const values = changes.map((change) => cursorText(change.new?.[column]));
  return [...new Set(values.filter((value): value is string => value !== null))];
}

/** A cursor value from the change log as text PostgreSQL can read back as the column's type. */
function cursorText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}
