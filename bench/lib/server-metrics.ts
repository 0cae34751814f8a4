// Reads the nself server's Prometheus endpoint: what the server itself measured (histograms, gauges).
import { fmt } from './report.js';
import type { Target } from './services.js';

/** The text of the server's `/metrics`. Reading it also restarts the event-loop delay gauges (prom-client resets them on every scrape). */
export async function scrapeServer(target: Target): Promise<string> {
  return (await fetch(`http://127.0.0.1:${target.port}/metrics`)).text();
}

/** A gauge's value in a scrape (NaN when absent). */
export function gaugeIn(scrape: string, name: string): number {
  const line = scrape.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

/** A histogram's cumulative buckets (upper bound in seconds → observations at or below it), count and sum. */
export interface ServerHistogram {
  readonly count: number;
  readonly sumSeconds: number;
  readonly buckets: ReadonlyMap<number, number>;
}

/** The histogram `name` in a scrape; `selector` picks the series of one label value, as `history="read"`. */
export function histogramIn(scrape: string, name: string, selector = ''): ServerHistogram {
  const buckets = new Map<number, number>();
  let count = 0;
  let sumSeconds = 0;
  for (const line of scrape.split('\n')) {
    if (!line.startsWith(name) || !line.includes(selector)) continue;
    const [series = '', figure] = line.split(' ');
    const number = Number(figure);
    if (series.startsWith(`${name}_bucket`)) {
      const le = /le="([^"]+)"/.exec(series)?.[1];
      buckets.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), number);
    } else if (series.startsWith(`${name}_count`)) count = number;
    else if (series.startsWith(`${name}_sum`)) sumSeconds = number;
  }
  return { count, sumSeconds, buckets };
}

/** What was observed between two readings of the same histogram. */
export function observedBetween(before: ServerHistogram, after: ServerHistogram): ServerHistogram {
  const buckets = new Map([...after.buckets].map(([le, count]) => [le, count - (before.buckets.get(le) ?? 0)]));
  return { count: after.count - before.count, sumSeconds: after.sumSeconds - before.sumSeconds, buckets };
}

/** Several readings' observations together (the runs of one side). */
export function combined(histograms: readonly ServerHistogram[]): ServerHistogram {
  const buckets = new Map<number, number>();
  for (const histogram of histograms) for (const [le, count] of histogram.buckets) buckets.set(le, (buckets.get(le) ?? 0) + count);
  return {
    count: histograms.reduce((sum, histogram) => sum + histogram.count, 0),
    sumSeconds: histograms.reduce((sum, histogram) => sum + histogram.sumSeconds, 0),
    buckets,
  };
}

/** The upper bound (seconds) of the first bucket holding at least the fraction `q` of the observations. */
export function bucketBound(histogram: ServerHistogram, q: number): number {
  const bounds = [...histogram.buckets.keys()].sort((a, b) => a - b);
  return bounds.find((le) => (histogram.buckets.get(le) ?? 0) >= q * histogram.count) ?? Number.NaN;
}

/** The mean observation in seconds (NaN when there is none). */
export function meanOf(histogram: ServerHistogram): number {
  return histogram.count > 0 ? histogram.sumSeconds / histogram.count : Number.NaN;
}

/** "≤ p50 / ≤ p99" in ms, as the upper bounds of the buckets of the histograms taken together. */
export function formatBounds(histograms: readonly ServerHistogram[]): string {
  const all = combined(histograms);
  const bound = (q: number) => fmt(bucketBound(all, q) * 1000, 1);
  return `≤ ${bound(0.5)} / ≤ ${bound(0.99)}`;
}
