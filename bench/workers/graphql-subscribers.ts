// Load-generator process for B11: one `graphql-ws` client per live query, each timing the rows its results bring.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { createClient, type Client } from 'graphql-ws';
import { liveQueryOf, type GraphQLWorkerReply, type GraphQLWorkerRequest, type ShapeRow } from '../lib/graphql-clients.js';
import { nowMs } from '../lib/stats.js';

interface Held {
  readonly shape: number;
  readonly client: Client;
  /** The newest row id its results have shown. */
  lastId: number;
  stop(): void;
}

const MAX_SAMPLES = 200_000;
const held: Held[] = [];
let latencies: number[] = [];
let received = 0;
const errors: string[] = [];
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();

process.on('message', (request: GraphQLWorkerRequest) => {
  handle(request).then(
    (reply) => process.send?.(reply),
    (error: unknown) => process.send?.({ error: error instanceof Error ? error.message : String(error) }),
  );
});

async function handle(request: GraphQLWorkerRequest): Promise<GraphQLWorkerReply> {
  switch (request.cmd) {
    case 'open': {
      const before = errors.length;
      await Promise.all(request.shapes.map((shape) => subscribe(request.url, request.token, shape)));
      return { opened: request.shapes.length - (errors.length - before), failures: errors.slice(before, before + 3) };
    }
    case 'reset':
      loopDelay.reset();
      latencies = [];
      received = 0;
      return { ok: true };
    case 'count':
      return { received };
    case 'report':
      return {
        latencies: latencies.length <= MAX_SAMPLES ? latencies : latencies.filter((_, index) => index % Math.ceil(latencies.length / MAX_SAMPLES) === 0),
        received,
        stale: held.filter((entry) => entry.lastId !== (request.lastIds[entry.shape] ?? 0)).length,
        errors: errors.slice(0, 3),
        loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      };
    case 'close':
      for (const entry of held.splice(0)) {
        entry.stop();
        await entry.client.dispose();
      }
      return { ok: true };
  }
}

/** Opens a client for one live query of `shape`; resolves at its first result. */
function subscribe(url: string, token: string, shape: number): Promise<void> {
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => undefined,
    connectionParams: { headers: { Authorization: `Bearer ${token}` } },
  });
  return new Promise((resolve) => {
    const entry: Held = { shape, client, lastId: 0, stop: () => undefined };
    held.push(entry);
    let first = true;
    entry.stop = client.subscribe<{ bench_items: ShapeRow[] }>(
      { query: liveQueryOf(shape) },
      {
        next: (result) => {
          const receivedAt = nowMs();
          const row = result.data?.bench_items[0];
          if (result.errors) errors.push(JSON.stringify(result.errors).slice(0, 200));
          if (first) {
            first = false;
            entry.lastId = row?.id ?? 0;
            resolve();
            return;
          }
          if (!row || row.id <= entry.lastId) return;
          entry.lastId = row.id;
          received += 1;
          if (latencies.length < MAX_SAMPLES * 4) latencies.push(receivedAt - row.sent_at);
        },
        error: (error) => {
          errors.push(error instanceof Error ? error.message : JSON.stringify(error).slice(0, 200));
          resolve();
        },
        complete: () => resolve(),
      },
    );
  });
}
