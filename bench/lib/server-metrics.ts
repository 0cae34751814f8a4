// Reads a histogram from the nself server's Prometheus endpoint: what the server itself measured.
import type { Target } from './services.js';

/** A histogram's observations, and the upper bound of the bucket that holds a quantile of them. */
export interface ServerHistogram {
  readonly count: number;
  readonly sumSeconds: number;
  /** Upper bound (seconds) of the first bucket holding at least `q` of the observations. */
  bucketBound(q: number): number;
}

/** The histogram `name` with label `label="value"`, fetched from the server's `/metrics`. */
export async function fetchServerHistogram(target: Target, name: string, label: string, value: string): Promise<ServerHistogram> {
  const text = await (await fetch(`http://127.0.0.1:${target.port}/metrics`)).text();
  const selector = `${label}="${value}"`;
  const buckets: { le: number; count: number }[] = [];
  let count = 0;
  let sumSeconds = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !line.includes(selector)) continue;
    const [series, figure] = line.split(' ');
    const number = Number(figure);
    if (series?.startsWith(`${name}_bucket`)) {
      const le = /le="([^"]+)"/.exec(series)?.[1];
      buckets.push({ le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), count: number });
    } else if (series?.startsWith(`${name}_count`)) count = number;
    else if (series?.startsWith(`${name}_sum`)) sumSeconds = number;
  }
  buckets.sort((a, b) => a.le - b.le);
  return {
    count, sumSeconds,
    bucketBound: (q) => buckets.find((bucket) => bucket.count >= q * count)?.le ?? Number.NaN,
  };
}
