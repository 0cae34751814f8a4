// Spreads subscriber sockets over worker processes pinned to the load CPU, and merges what they measured.
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { DeliveryCheck } from './sequence.js';
import { benchDir } from './paths.js';
import { CPU, spawnPinned, stopChild } from './processes.js';
import type { Target } from './services.js';
import { summarize, type LatencySummary } from './stats.js';
import type { SubscriberSpec } from './subscriber-clients.js';

/** Requests a worker understands. */
export type WorkerRequest =
  | { cmd: 'open'; target: Target; specs: SubscriberSpec[]; concurrency: number; spreadMs: number }
  | { cmd: 'reset'; first: number; sources: number; ordered: boolean }
  | { cmd: 'count' }
  | { cmd: 'pause'; count: number }
  | { cmd: 'report'; lastSent: Record<string, number> }
  | { cmd: 'drop' }
  | { cmd: 'resume'; until: Record<string, number>; spreadMs: number }
  | { cmd: 'close' };

/** Replies of a worker. */
export type WorkerReply =
  { ok: true } | { received: number } | { opened: number; failed: number; failures: string[]; elapsedMs: number; joinTimes: number[] } | WorkerReport | { error: string };

/** A worker's figures: latency samples, its delivery check, and per resumed client the replay's times. */
export interface WorkerReport {
  readonly latencies: number[];
  readonly check: DeliveryCheck;
  /** From the reconnect to the last replayed message, and the part of it until the WebSocket was open. */
  readonly replayTimes: number[];
  readonly replayConnectTimes: number[];
  /** p99 of the process's event-loop delay since the last reset, in ms. */
  readonly loopDelayP99Ms: number;
  readonly closedPaused: number;
  readonly closedHealthy: number;
}

/** What all workers measured together. */
export interface LoadReport {
  readonly latency: LatencySummary;
  readonly check: DeliveryCheck;
  readonly replay: LatencySummary;
  /** The part of each replay until its WebSocket was open (the connect, before the join). */
  readonly replayConnect: LatencySummary;
  /** The largest p99 event-loop delay of the load processes since the last reset, in ms (a busy load generator delays what it measures). */
  readonly loadLoopDelayP99Ms: number;
  /** Sockets the server closed: stopped readers, and healthy ones. */
  readonly closedPaused: number;
  readonly closedHealthy: number;
}

/** The outcome of opening subscribers. */
export interface OpenResult {
  readonly opened: number;
  readonly failed: number;
  readonly failures: string[];
  /** Wall time until the last worker had all its sockets joined. */
  readonly elapsedMs: number;
  readonly join: LatencySummary;
}

/** A set of worker processes holding subscriber sockets. */
export class LoadClients {
  private readonly queues: Array<Array<(reply: WorkerReply) => void>>;

  private constructor(private readonly workers: ChildProcess[]) {
    this.queues = workers.map(() => []);
    workers.forEach((worker, index) => worker.on('message', (reply: WorkerReply) => this.queues[index]?.shift()?.(reply)));
  }

  /** Starts `count` worker processes on the load CPU. */
  static async start(count: number, openFiles?: number): Promise<LoadClients> {
    const script = path.join(benchDir, 'workers', 'subscribers.ts');
    const workers = Array.from({ length: count }, () =>
      spawnPinned(CPU.load, process.execPath, ['--import', 'tsx', script], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        ...(openFiles !== undefined ? { openFiles } : {}),
      }),
    );
    const clients = new LoadClients(workers);
    await clients.all({ cmd: 'close' });
    return clients;
  }

  /**
   * Opens the subscribers, spread evenly over the workers: at most `concurrency` connecting at once per
   * worker, or, with `spreadMs`, each starting at its even share of that time (no cap).
   */
  async open(target: Target, specs: readonly SubscriberSpec[], concurrency = 50, spreadMs = 0): Promise<OpenResult> {
    const shares = this.workers.map((_, index) => specs.filter((_, spec) => spec % this.workers.length === index));
    const replies = await Promise.all(shares.map((share, index) => this.ask(index, { cmd: 'open', target, specs: share, concurrency, spreadMs })));
    const opened = replies.map((reply) => expect<{ opened: number; failed: number; failures: string[]; elapsedMs: number; joinTimes: number[] }>(reply, 'opened'));
    return {
      opened: opened.reduce((sum, reply) => sum + reply.opened, 0),
      failed: opened.reduce((sum, reply) => sum + reply.failed, 0),
      failures: opened.flatMap((reply) => reply.failures).slice(0, 3),
      elapsedMs: Math.max(...opened.map((reply) => reply.elapsedMs)),
      join: summarize(opened.flatMap((reply) => reply.joinTimes)),
    };
  }

  /**
   * Forgets what was measured; every healthy socket now expects number `first` next from each of
   * `sources` sources (writers numbering from source × SOURCE_STRIDE); `ordered` false checks only
   * that each number arrives once.
   */
  async reset(first = 1, sources = 1, ordered = true): Promise<void> {
    await this.all({ cmd: 'reset', first, sources, ordered });
  }

  /**
   * Waits until `expected` messages were received in all, or the count stops growing for
   * `quietMs`, or `maxMs` passed; resolves with how long the wait took.
   */
  async drain(expected: number, quietMs = 1_500, maxMs = 60_000): Promise<number> {
    const started = Date.now();
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      const replies = await this.all({ cmd: 'count' });
      const received = replies.reduce((sum, reply) => sum + ('received' in reply ? reply.received : 0), 0);
      if (received >= expected) return Date.now() - started;
      if (received !== last) {
        last = received;
        lastChange = Date.now();
      }
      if (Date.now() - lastChange > quietMs || Date.now() - started > maxMs) return Date.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Makes the first `count` sockets of each worker stop reading. */
  async pause(countPerWorker: number): Promise<void> {
    await this.all({ cmd: 'pause', count: countPerWorker });
  }

  /** Merged figures; `lastSent` gives, per topic (or `topic:source`), the last number published (the rest counts as missing). */
  async report(lastSent: Record<string, number>): Promise<LoadReport> {
    const replies = (await this.all({ cmd: 'report', lastSent })).map((reply) => expect<WorkerReport>(reply, 'latencies'));
    const sum = (pick: (check: DeliveryCheck) => number) => replies.reduce((total, reply) => total + pick(reply.check), 0);
    return {
      latency: summarize(replies.flatMap((reply) => reply.latencies)),
      check: { received: sum((check) => check.received), gaps: sum((check) => check.gaps), duplicates: sum((check) => check.duplicates), missing: sum((check) => check.missing) },
      replay: summarize(replies.flatMap((reply) => reply.replayTimes)),
      replayConnect: summarize(replies.flatMap((reply) => reply.replayConnectTimes)),
      loadLoopDelayP99Ms: Math.max(...replies.map((reply) => reply.loopDelayP99Ms)),
      closedPaused: replies.reduce((total, reply) => total + reply.closedPaused, 0),
      closedHealthy: replies.reduce((total, reply) => total + reply.closedHealthy, 0),
    };
  }

  /** Closes every socket (clients stay connected to nothing; the workers stay up). */
  async drop(): Promise<void> {
    await this.all({ cmd: 'drop' });
  }

  /**
   * Reconnects every socket, joining with `resume` from its last offset: all at once, or spread evenly
   * over `spreadMs`; `until` is the last number each topic's replay must reach.
   */
  async resume(until: Record<string, number>, spreadMs = 0): Promise<{ failed: number; failures: string[] }> {
    const replies = (await this.all({ cmd: 'resume', until, spreadMs })).map((reply) => expect<{ failed: number; failures: string[] }>(reply, 'opened'));
    return { failed: replies.reduce((total, reply) => total + reply.failed, 0), failures: replies.flatMap((reply) => reply.failures).slice(0, 3) };
  }

  /** Closes every socket and forgets them. */
  async closeAll(): Promise<void> {
    await this.all({ cmd: 'close' });
  }

  /** Stops the worker processes. */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => stopChild(worker, 1_000)));
  }

  private all(request: WorkerRequest): Promise<WorkerReply[]> {
    return Promise.all(this.workers.map((_, index) => this.ask(index, request)));
  }

  private ask(index: number, request: WorkerRequest): Promise<WorkerReply> {
    return new Promise((resolve) => {
      this.queues[index]?.push(resolve);
      this.workers[index]?.send(request);
    });
  }
}

function expect<T>(reply: WorkerReply, key: string): T {
  if ('error' in reply) throw new Error(`load worker failed: ${reply.error}`);
  if (!(key in reply)) throw new Error(`load worker sent an unexpected reply: ${JSON.stringify(reply).slice(0, 200)}`);
  return reply as T;
}
