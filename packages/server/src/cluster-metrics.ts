// One /metrics for a server of several worker processes: the worker asked gathers every worker's metrics through the primary,
// summed into one view of the server, or each series labelled with its worker.
import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

/** Which view of the metrics: the server's totals, or each worker's own, labelled `worker`. */
export type MetricsView = 'server' | 'per-worker';

/** One metric with its values, as prom-client gives it (`registry.getMetricsAsJSON()`). */
export type Metric = MetricObjectWithValues<MetricValue<string>>;

/** Messages between the primary and its workers, told apart from others by `nselfMetrics`. */
type MetricsMessage =
  | { readonly nselfMetrics: 'collect'; readonly id: string }
  | { readonly nselfMetrics: 'collected'; readonly id: string; readonly metrics: Metric[] }
  | { readonly nselfMetrics: 'gather'; readonly id: string; readonly view: MetricsView; readonly format: 'text' | 'json' }
  | { readonly nselfMetrics: 'gathered'; readonly id: string; readonly text: string; readonly metrics?: Metric[] };

/** How long the primary waits for a worker's metrics; a worker that does not answer in time is left out of that scrape. */
const COLLECT_TIMEOUT_MS = 2_000;

function isMetricsMessage(message: unknown): message is MetricsMessage {
  return typeof message === 'object' && message !== null && 'nselfMetrics' in message && 'id' in message;
}

/** The Prometheus text of `registry` alone (one process), or, in a worker, of the whole server in `view`. */
export async function metricsText(registry: Registry, view: MetricsView): Promise<string> {
  if (!cluster.isWorker || !process.send) return registry.metrics();
  return (await askPrimary(view, 'text')).text;
}

/** The metrics of `registry` alone (one process), or, in a worker, the whole server's totals, as prom-client's JSON. */
export async function serverMetricsJson(registry: Registry): Promise<Metric[]> {
  if (!cluster.isWorker || !process.send) return registry.getMetricsAsJSON();
  return (await askPrimary('server', 'json')).metrics ?? [];
}

/** Asks the primary to gather every worker's metrics in `view`. */
function askPrimary(view: MetricsView, format: 'text' | 'json'): Promise<{ text: string; metrics?: Metric[] }> {
  const id = randomUUID();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new Error('the primary process did not gather the workers’ metrics in time'));
    }, COLLECT_TIMEOUT_MS * 2);
    const onMessage = (message: unknown) => {
      if (!isMetricsMessage(message) || message.nselfMetrics !== 'gathered' || message.id !== id) return;
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(message);
    };
    process.on('message', onMessage);
    process.send?.({ nselfMetrics: 'gather', id, view, format } satisfies MetricsMessage);
  });
}

/** In a worker: answers the primary's requests for this process's metrics. Returns the function that stops answering. */
export function answerMetricsRequests(registry: Registry): () => void {
  if (!cluster.isWorker || !process.send) return () => undefined;
  const onMessage = (message: unknown) => {
    if (!isMetricsMessage(message) || message.nselfMetrics !== 'collect') return;
    void registry.getMetricsAsJSON().then((metrics) => process.send?.({ nselfMetrics: 'collected', id: message.id, metrics } satisfies MetricsMessage));
  };
  process.on('message', onMessage);
  return () => process.off('message', onMessage);
}

/** In the primary: gathers the metrics of `workers` for whichever of them asks, keyed by their worker index. */
export function serveMetrics(workers: () => ReadonlyMap<number, Worker>): (worker: Worker, message: unknown) => void {
  return (asking, message) => {
    if (!isMetricsMessage(message) || message.nselfMetrics !== 'gather') return;
    void gather(workers(), message.view).then(
      async (registry) => {
        const answer: MetricsMessage =
          message.format === 'json'
            ? { nselfMetrics: 'gathered', id: message.id, text: '', metrics: await registry.getMetricsAsJSON() }
            : { nselfMetrics: 'gathered', id: message.id, text: await registry.metrics() };
        if (asking.isConnected()) asking.send(answer);
      },
      () => undefined,
    );
  };
}

async function gather(workers: ReadonlyMap<number, Worker>, view: MetricsView): Promise<Registry> {
  const collected = await Promise.all([...workers].map(async ([index, worker]) => ({ index, metrics: await collect(worker) })));
  const answered = collected.filter((entry): entry is { index: number; metrics: Metric[] } => entry.metrics !== undefined);
  const sets = view === 'server' ? answered.map((entry) => entry.metrics) : answered.map((entry) => labelled(entry.metrics, String(entry.index)));
  return AggregatorRegistry.aggregate(sets);
}

/** One worker's metrics, or undefined when it does not answer in time. */
function collect(worker: Worker): Promise<Metric[] | undefined> {
  if (!worker.isConnected()) return Promise.resolve(undefined);
  const id = randomUUID();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      worker.off('message', onMessage);
      resolve(undefined);
    }, COLLECT_TIMEOUT_MS);
    const onMessage = (message: unknown) => {
      if (!isMetricsMessage(message) || message.nselfMetrics !== 'collected' || message.id !== id) return;
      clearTimeout(timer);
      worker.off('message', onMessage);
      resolve(message.metrics);
    };
    worker.on('message', onMessage);
    worker.send({ nselfMetrics: 'collect', id } satisfies MetricsMessage);
  });
}

/**
 * `metrics` with every value labelled `worker`, so that aggregating keeps each worker's series apart
 * (summing a series with itself alone, whatever aggregation the metric asks for in the server's view).
 */
function labelled(metrics: Metric[], worker: string): Metric[] {
  return metrics.map((metric) => ({ ...metric, aggregator: 'sum', values: metric.values.map((value) => ({ ...value, labels: { ...value.labels, worker } })) }));
}
