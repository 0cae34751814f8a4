// This process's own figures for the inspector, read from its metrics: connections, channels, message totals, latency histograms, memory.
import type { Counter, Histogram } from 'prom-client';
import type { Metrics } from '../metrics.js';

/** A latency histogram: the upper bound of each bucket (seconds) and how many observations fell in it (not cumulative). */
export interface LatencyHistogram {
  readonly bounds: number[];
  readonly counts: number[];
  /** Observations above the last bound. */
  readonly over: number;
  readonly count: number;
  readonly sumSeconds: number;
}

/** What the inspector shows of the process; totals are counters, the page turns them into rates. */
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

/** Reads the process's figures now. */
export async function readServerFigures(metrics: Metrics): Promise<ServerFigures> {
  const memory = process.memoryUsage();
  return {
    connections: await gaugeValue(metrics.connections),
    channels: await gaugeValue(metrics.channels),
    messagesIn: await counterTotal(metrics.messagesIn),
    messagesOut: await counterTotal(metrics.messagesOut),
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    uptimeSeconds: Math.round(process.uptime()),
    latency: {
      broadcast: await histogram(metrics.deliveryLatency),
      tableChange: await histogram(metrics.changeDeliveryLatency),
      join: await histogram(metrics.joinDuration),
    },
  };
}

async function gaugeValue(gauge: Metrics['connections']): Promise<number> {
  return (await gauge.get()).values[0]?.value ?? 0;
}

async function counterTotal(counter: Counter<string>): Promise<number> {
  return (await counter.get()).values.reduce((total, entry) => total + entry.value, 0);
}

/** Sums a histogram over its labels and turns its cumulative buckets into per-bucket counts. */
async function histogram(metric: Histogram<string>): Promise<LatencyHistogram> {
  const cumulative = new Map<number, number>();
  let count = 0;
  let sumSeconds = 0;
  for (const entry of (await metric.get()).values) {
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
