// Live queries: re-run when a committed change can affect their result (or on a timer, Hasura's way), batched, shared by subscribers of the same query, sent only when the result differs.
import type { ExecutionResult } from 'graphql';
import { ChangeFilter } from './change-filter.js';
import type { ChangeSource, CommittedChange } from './changes.js';
import type { GraphQLEngine, PreparedOperation, Session } from './engine.js';

/** Where results of one subscription go. */
export interface ResultSink {
  next(result: ExecutionResult): void;
}

/** Claims that change with every token refresh and decide nothing a query reads. */
const TOKEN_TIMES = new Set(['exp', 'iat', 'nbf', 'jti', 'auth_time']);

/** Options of the live queries. */
export interface LiveQueryOptions {
  /** Changes arriving within this many ms of the first are answered by one re-run. */
  readonly batchMs: number;
  /** Set: re-run every live query this often instead of on changes, sending only results that differ (Hasura's way; needs no change capture). */
  readonly pollMs?: number;
  /**
   * Told of each evaluation, of changes to tables a live query reads that could not change its result
   * (so it did not run), and of the number of distinct live queries when it changes (for metrics).
   */
  readonly observe?: { evaluated(): void; skipped(changes: number): void; groups(count: number): void };
}

/**
 * The live queries of a server. Subscribers with the same query, variables, role and claims share
 * one group: one watch of the tables the query reads, one re-run per batch of changes, one JSON
 * comparison; every subscriber gets each new result.
 */
export class LiveQueries {
  private readonly groups = new Map<string, LiveGroup>();

  constructor(
    private readonly engine: GraphQLEngine,
    private readonly changes: ChangeSource,
    private readonly options: LiveQueryOptions,
  ) {}

  /** How many distinct live queries run (for metrics and tests). */
  get size(): number {
    return this.groups.size;
  }

  /** Subscribes `sink` to the live results of `prepared` as `session`; the first result follows at once. Resolves with the unsubscribe function. */
  async subscribe(session: Session, prepared: PreparedOperation, sink: ResultSink): Promise<() => void> {
    const key = groupKey(session, prepared);
    let group = this.groups.get(key);
    if (!group) {
      group = new LiveGroup(this.engine, this.changes, session, prepared, this.options, () => {
        this.groups.delete(key);
        this.options.observe?.groups(this.groups.size);
      });
      this.groups.set(key, group);
      this.options.observe?.groups(this.groups.size);
    }
    return group.add(sink);
  }
}

class LiveGroup {
  /** Each subscriber, and whether it has had a result yet. */
  private readonly sinks = new Map<ResultSink, boolean>();
  private readonly started: Promise<void>;
  private stopWatch: (() => void) | undefined;
  private last: { json: string; result: ExecutionResult } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private dirty = false;
  private ended = false;

  constructor(
    private readonly engine: GraphQLEngine,
    private readonly changes: ChangeSource,
    private readonly session: Session,
    private readonly prepared: PreparedOperation,
    private readonly options: LiveQueryOptions,
    private readonly forget: () => void,
  ) {
    this.started = this.start();
    this.started.catch(() => undefined);
  }

  async add(sink: ResultSink): Promise<() => void> {
    this.sinks.set(sink, false);
    try {
      await this.started;
    } catch (error) {
      this.sinks.delete(sink);
      throw error;
    }
    if (this.last && !this.running && this.sinks.get(sink) === false) {
      this.sinks.set(sink, true);
      sink.next(this.last.result);
    }
    return () => {
      this.sinks.delete(sink);
      if (this.sinks.size === 0) this.end();
    };
  }

  private async start(): Promise<void> {
    try {
      const { tables, fields, errors } = await this.engine.tablesOf(this.prepared);
      const [failure] = errors;
      if (failure) throw failure;
      const filter = new ChangeFilter(fields);
      this.stopWatch = this.options.pollMs === undefined ? await this.changes.watch(tables, (changes) => this.changed(filter, changes)) : this.poll(this.options.pollMs);
      if (this.ended) this.stopWatch();
    } catch (error) {
      this.end();
      throw error;
    }
    await this.evaluate();
  }

  /** Re-runs the query every `intervalMs` (skipping a tick while a run is under way); returns the stop function. */
  private poll(intervalMs: number): () => void {
    const timer = setInterval(() => {
      if (!this.running && !this.ended) void this.evaluate();
    }, intervalMs);
    return () => clearInterval(timer);
  }

  /** Schedules a re-run when one of `changes` may change the result (a change that cannot is not worth a query). */
  private changed(filter: ChangeFilter, changes: readonly CommittedChange[]): void {
    if (this.ended) return;
    if (!changes.some((change) => filter.mayAffect(change))) {
      this.options.observe?.skipped(changes.length);
      return;
    }
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.evaluate();
    }, this.options.batchMs);
  }

  /** Re-runs the query until no change arrived while it ran; sends each result that differs from the last sent. */
  private async evaluate(): Promise<void> {
    this.running = true;
    try {
      do {
        this.dirty = false;
        this.options.observe?.evaluated();
        const result = await this.engine.run(this.session, this.prepared);
        const json = JSON.stringify(result);
        if (this.ended) break;
        const changed = json !== this.last?.json;
        this.last = { json, result };
        for (const [sink, served] of [...this.sinks]) {
          if (served && !changed) continue;
          this.sinks.set(sink, true);
          sink.next(result);
        }
      } while (this.dirty && !this.ended);
    } finally {
      this.running = false;
    }
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.stopWatch?.();
    this.forget();
  }
}

function groupKey(session: Session, prepared: PreparedOperation): string {
  const claims = Object.fromEntries(Object.entries(session.claims).filter(([name]) => !TOKEN_TIMES.has(name)));
  return JSON.stringify([
    session.role,
    session.userId,
    sorted(claims),
    sorted(session.variables),
    prepared.request.query,
    prepared.request.operationName ?? null,
    prepared.request.variables ?? null,
  ]);
}

/** `value` with object keys sorted at every depth, so that equal claims give equal keys. */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sorted((value as Record<string, unknown>)[key])]),
  );
}
