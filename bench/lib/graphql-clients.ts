// B11's live queries: the query of each shape, and the load processes holding one `graphql-ws` client per live query.
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { benchDir } from './paths.js';
import { CPU, spawnPinned, stopChild } from './processes.js';
import { summarize, type LatencySummary } from './stats.js';

/** The table every live query reads. */
export const LIVE_TABLE = 'bench_items';

/** A row as a live query returns it: its id and the writer's clock when it sent the INSERT. */
export interface ShapeRow {
  readonly id: number;
  readonly sent_at: number;
}

/** The live query of `shape`: the newest row of that shape (each shape is its own query text, as distinct app screens are). */
export function liveQueryOf(shape: number): string {
  return `subscription Shape${shape} { ${LIVE_TABLE}(where: {shape: {_eq: ${shape}}}, order_by: {id: desc}, limit: 1) { id sent_at } }`;
}

/** Requests a load process understands. */
export type GraphQLWorkerRequest =
  { cmd: 'open'; url: string; token: string; shapes: number[] } | { cmd: 'reset' } | { cmd: 'count' } | { cmd: 'report'; lastIds: Record<number, number> } | { cmd: 'close' };

/** What a load process measured since the last reset. */
export interface GraphQLWorkerReport {
  readonly latencies: number[];
  /** Results that brought a newer row. */
  readonly received: number;
  /** Live queries whose last result is not the newest row of their shape. */
  readonly stale: number;
  readonly errors: string[];
  readonly loopDelayP99Ms: number;
}

/** Replies of a load process. */
export type GraphQLWorkerReply = { ok: true } | { received: number } | { opened: number; failures: string[] } | GraphQLWorkerReport | { error: string };

/** What all load processes measured together. */
export interface GraphQLLoadReport {
  readonly latency: LatencySummary;
  readonly received: number;
  readonly stale: number;
  readonly errors: string[];
  readonly loadLoopDelayP99Ms: number;
}

/** Load processes on the load CPU, each holding its share of the live queries. */
export class GraphQLClients {
  private readonly queues: Array<Array<(reply: GraphQLWorkerReply) => void>>;

  private constructor(private readonly workers: ChildProcess[]) {
    this.queues = workers.map(() => []);
    workers.forEach((worker, index) => worker.on('message', (reply: GraphQLWorkerReply) => this.queues[index]?.shift()?.(reply)));
  }

  /** Starts `count` load processes. */
  static start(count: number): GraphQLClients {
    const script = path.join(benchDir, 'workers', 'graphql-subscribers.ts');
    return new GraphQLClients(
      Array.from({ length: count }, () => spawnPinned(CPU.load, process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })),
    );
  }

  /** Opens one client per entry of `shapes` (its live query's shape), spread over the processes; resolves when each has its first result. */
  async open(url: string, token: string, shapes: readonly number[]): Promise<{ opened: number; failures: string[] }> {
    const replies = await Promise.all(
      this.workers.map((_, index) => this.ask(index, { cmd: 'open', url, token, shapes: shapes.filter((_, at) => at % this.workers.length === index) })),
    );
    const opened = replies.map((reply) => expectReply<{ opened: number; failures: string[] }>(reply, 'opened'));
    return { opened: opened.reduce((sum, reply) => sum + reply.opened, 0), failures: opened.flatMap((reply) => reply.failures).slice(0, 3) };
  }

  async reset(): Promise<void> {
    await this.all({ cmd: 'reset' });
  }

  /** Waits until `expected` new rows were received in all, or the count stops growing for `quietMs`. */
  async drain(expected: number, quietMs: number): Promise<void> {
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      const received = (await this.all({ cmd: 'count' })).reduce((sum, reply) => sum + ('received' in reply ? reply.received : 0), 0);
      if (received >= expected) return;
      if (received !== last) {
        last = received;
        lastChange = Date.now();
      }
      if (Date.now() - lastChange > quietMs) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Merged figures; `lastIds` is the newest row id of each shape. */
  async report(lastIds: Record<number, number>): Promise<GraphQLLoadReport> {
    const replies = (await this.all({ cmd: 'report', lastIds })).map((reply) => expectReply<GraphQLWorkerReport>(reply, 'latencies'));
    return {
      latency: summarize(replies.flatMap((reply) => reply.latencies)),
      received: replies.reduce((sum, reply) => sum + reply.received, 0),
      stale: replies.reduce((sum, reply) => sum + reply.stale, 0),
      errors: replies.flatMap((reply) => reply.errors).slice(0, 3),
      loadLoopDelayP99Ms: Math.max(...replies.map((reply) => reply.loopDelayP99Ms)),
    };
  }

  /** Closes every client. */
  async closeAll(): Promise<void> {
    await this.all({ cmd: 'close' });
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => stopChild(worker, 1_000)));
  }

  private all(request: GraphQLWorkerRequest): Promise<GraphQLWorkerReply[]> {
    return Promise.all(this.workers.map((_, index) => this.ask(index, request)));
  }

  private ask(index: number, request: GraphQLWorkerRequest): Promise<GraphQLWorkerReply> {
    return new Promise((resolve) => {
      this.queues[index]?.push(resolve);
      this.workers[index]?.send(request);
    });
  }
}

function expectReply<T>(reply: GraphQLWorkerReply, key: string): T {
  if ('error' in reply) throw new Error(`load process failed: ${reply.error}`);
  if (!(key in reply)) throw new Error(`load process sent an unexpected reply: ${JSON.stringify(reply).slice(0, 200)}`);
  return reply as T;
}
