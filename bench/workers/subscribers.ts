// Load-generator process: holds many subscriber sockets, timestamps every numbered message, and checks delivery order.
import type { Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { sleep } from '../lib/alternate.js';
import { SequenceCheck, SOURCE_STRIDE } from '../lib/sequence.js';
import { nowMs } from '../lib/stats.js';
import { openSubscriber, type Subscriber, type SubscriberSpec } from '../lib/subscriber-clients.js';
import type { Target } from '../lib/services.js';
import type { WorkerReply, WorkerRequest } from '../lib/load-clients.js';

interface Held {
  readonly index: number;
  readonly spec: SubscriberSpec;
  subscriber: Subscriber | undefined;
  /** Stopped reading (a slow consumer): left out of latency and order figures. */
  paused: boolean;
  lastOffset: number;
  closedByServer: number | undefined;
  /** While resuming: when the reconnect began and when its WebSocket was open, and the sequence number that completes the replay. */
  resumeStartedAt?: number;
  resumeConnectedAt?: number;
  resumeUntil?: number;
}

const MAX_SAMPLES = 200_000;
const held: Held[] = [];
let latencies: number[] = [];
let replayTimes: number[] = [];
let replayConnectTimes: number[] = [];
let check = new SequenceCheck();
/** How late this process's event loop ran since the last reset: a busy load generator delays what it measures. */
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
let target: Target | undefined;

process.on('message', (request: WorkerRequest) => {
  handle(request).then(
    (reply) => process.send?.(reply),
    (error: unknown) => process.send?.({ error: error instanceof Error ? error.message : String(error) }),
  );
});

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  switch (request.cmd) {
    case 'open': {
      target = request.target;
      const started = nowMs();
      const failures: string[] = [];
      const joinTimes: number[] = [];
      const fresh = request.specs.map((spec, offset) => ({ index: held.length + offset, spec, subscriber: undefined, paused: false, lastOffset: 0, closedByServer: undefined }));
      held.push(...fresh);
      const openOne = async (entry: Held) => {
        const begun = nowMs();
        try {
          await connect(entry);
          joinTimes.push(nowMs() - begun);
        } catch (error) {
          failures.push(error instanceof Error ? error.message : String(error));
        }
      };
      if (request.spreadMs > 0)
        await Promise.all(
          fresh.map(async (entry, index) => {
            await waitUntil(started + (request.spreadMs * index) / fresh.length);
            await openOne(entry);
          }),
        );
      else await inBatches(fresh, request.concurrency, openOne);
      return { opened: fresh.length - failures.length, failures: failures.slice(0, 3), failed: failures.length, elapsedMs: nowMs() - started, joinTimes };
    }
    case 'reset':
      loopDelay.reset();
      latencies = [];
      replayTimes = [];
      replayConnectTimes = [];
      check = new SequenceCheck(request.ordered);
      for (const entry of held) {
        if (entry.paused) continue;
        for (let source = 0; source < request.sources; source += 1) check.expect(streamOf(entry.index, source), request.first);
      }
      return { ok: true };
    case 'count':
      return { received: check.result(() => 0).received };
    case 'pause': {
      for (const entry of held.slice(0, request.count)) {
        entry.paused = true;
        (entry.subscriber?.ws as unknown as { _socket?: Socket } | undefined)?._socket?.pause();
      }
      return { ok: true };
    }
    case 'report': {
      const result = check.result((stream) => {
        const [index, source] = stream.split(':');
        const topic = held[Number(index)]?.spec.topic ?? '';
        return request.lastSent[`${topic}:${source}`] ?? request.lastSent[topic] ?? 0;
      });
      const closed = held.filter((entry) => entry.closedByServer !== undefined);
      return {
        latencies: sample(latencies),
        check: result,
        replayTimes,
        replayConnectTimes,
        loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
        closedPaused: closed.filter((entry) => entry.paused).length,
        closedHealthy: closed.filter((entry) => !entry.paused).length,
      };
    }
    case 'drop':
      for (const entry of held) {
        entry.subscriber?.close();
        entry.subscriber = undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { ok: true };
    case 'resume': {
      const failures: string[] = [];
      const begun = nowMs();
      await Promise.all(
        held.map(async (entry, index) => {
          await waitUntil(begun + (request.spreadMs * index) / held.length);
          entry.resumeStartedAt = nowMs();
          entry.resumeUntil = request.until[entry.spec.topic] ?? 0;
          try {
            await connect(entry, { ...entry.spec.config, broadcast: { self: false, resume: { offset: entry.lastOffset } } });
          } catch (error) {
            failures.push(error instanceof Error ? error.message : String(error));
          }
        }),
      );
      return { opened: held.length - failures.length, failures: failures.slice(0, 3), failed: failures.length, elapsedMs: 0, joinTimes: [] };
    }
    case 'close':
      for (const entry of held) entry.subscriber?.close();
      held.length = 0;
      return { ok: true };
  }
}

async function connect(entry: Held, config = entry.spec.config): Promise<void> {
  if (!target) throw new Error('no target');
  entry.subscriber = await openSubscriber(
    target,
    { ...entry.spec, ...(config ? { config } : {}) },
    {
      message: (message) => {
        const receivedAt = nowMs();
        if (entry.paused) return;
        if (message.offset !== undefined) entry.lastOffset = message.offset;
        check.record(streamOf(entry.index, Math.floor(message.s / SOURCE_STRIDE)), message.s % SOURCE_STRIDE);
        if (entry.resumeUntil !== undefined && entry.resumeStartedAt !== undefined && message.s >= entry.resumeUntil) {
          replayTimes.push(receivedAt - entry.resumeStartedAt);
          replayConnectTimes.push((entry.resumeConnectedAt ?? receivedAt) - entry.resumeStartedAt);
          entry.resumeUntil = undefined;
        }
        if (latencies.length < MAX_SAMPLES * 4) latencies.push(receivedAt - message.t);
      },
      closed: (code) => {
        if (code !== 1000 && code !== 1005) entry.closedByServer = code;
      },
      connected: () => {
        entry.resumeConnectedAt = nowMs();
      },
    },
  );
}

/** Resolves at `time` (on the `nowMs` clock); at once when it has passed. */
async function waitUntil(time: number): Promise<void> {
  if (time > nowMs()) await sleep(time - nowMs());
}

function streamOf(index: number, source: number): string {
  return `${index}:${source}`;
}

async function inBatches<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, async () => {
      while (next < items.length) {
        const item = items[next];
        next += 1;
        if (item !== undefined) await task(item);
      }
    }),
  );
}

function sample(values: number[]): number[] {
  if (values.length <= MAX_SAMPLES) return values;
  const stride = values.length / MAX_SAMPLES;
  return Array.from({ length: MAX_SAMPLES }, (_, index) => values[Math.floor(index * stride)] ?? 0);
}
