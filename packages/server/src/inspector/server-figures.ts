// The server's figures for the inspector, read from its metrics (every worker's, summed): connections, channels, message totals,
// latency histograms; and the answering process's memory and uptime.
import type { MetricValueWithName, Registry } from 'prom-client';
import { serverMetricsJson, type Metric } from '../cluster-metrics.js';

/** A latency histogram: the upper bound of each bucket (seconds) and how many observations fell in it (not cumulative). */
export interface LatencyHistogram {
  readonly bounds: number[];
  readonly counts: number[];
  /** Observations above the last bound. */
  readonly over: number;
  readonly count: number;
  readonly sumSeconds: number;
}

/** What the inspector shows of the server; totals are counters, the page turns them into rates. Memory and uptime are the answering process's. */
export interface ServerFigures {
  readonly connections: number;
  readonly channels: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly uptimeSeconds: number;
  readonly latency: { readonly broadcast: LatencyHistogram; readonly tableChange: LatencyHistogram; readonly join: LatencyHistogram };
}

/** Reads the server's figures now. */
export async function readServerFigures(registry: Registry): Promise<ServerFigures> {
  const metrics = new Map((await serverMetricsJson(registry)).map((metric) => [metric.name, metric]));
  const memory = process.memoryUsage();
  return {
    connections: total(metrics.get('realtime_connections')),
    channels: total(metrics.get('realtime_channels')),
    messagesIn: total(metrics.get('realtime_messages_in_total')),
    messagesOut: total(metrics.get('realtime_messages_out_total')),
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    uptimeSeconds: Math.round(process.uptime()),
    latency: {
      broadcast: histogram(metrics.get('realtime_delivery_latency_seconds')),
      tableChange: histogram(metrics.get('realtime_change_delivery_latency_seconds')),
      join: histogram(metrics.get('realtime_join_duration_seconds')),
    },
  };
}

/** A gauge's or counter's values summed over their labels; 0 when the metric is absent. */
function total(metric: Metric | undefined): number {
  return (metric?.values ?? []).reduce((sum, entry) => sum + entry.value, 0);
}

/** Sums a histogram over its labels and turns its cumulative buckets into per-bucket counts. */
function histogram(metric: Metric | undefined): LatencyHistogram {
  const cumulative = new Map<number, number>();
  let count = 0;
  let sumSeconds = 0;
  // A histogram's values name their series (`…_bucket`, `…_count`, `…_sum`).
  for (const entry of (metric?.values ?? []) as MetricValueWithName<string>[]) {
    if (entry.metricName?.endsWith('_bucket')) {
      const bound = Number(entry.labels['le']);
      cumulative.set(bound, (cumulative.get(bound) ?? 0) + entry.value);
    } else if (entry.metricName?.endsWith('_count')) count += entry.value;
    else if (entry.metricName?.endsWith('_sum')) sumSeconds += entry.value;
  }
  const bounds = [...cumulative.keys()].filter(Number.isFinite).sort((a, b) => a - b);
  const counts = bounds.map((bound, index) => (cumulative.get(bound) ?? 0) - (index === 0 ? 0 : (cumulative.get(bounds[index - 1] ?? 0) ?? 0)));
  const below = bounds.length > 0 ? (cumulative.get(bounds[bounds.length - 1] ?? 0) ?? 0) : 0;
  return { bounds, counts, over: count - below, count, sumSeconds };
}
