// Small SVG charts: a sparkline of recent values and a histogram of latency buckets.
const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 220;
const HEIGHT = 48;

function svgElement<K extends keyof SVGElementTagNameMap>(name: K, attributes: Record<string, string | number>): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

/** Draws `values` (oldest first) across the whole width as a line over a filled area, scaled to their maximum. */
export function sparkline(container: HTMLElement, values: readonly number[]): void {
  const svg = svgElement('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'sparkline', role: 'img' });
  const max = Math.max(1, ...values);
  const step = WIDTH / Math.max(1, values.length - 1);
  const start = 0;
  const points = values.map((value, index) => `${(start + index * step).toFixed(1)},${(HEIGHT - 2 - (value / max) * (HEIGHT - 6)).toFixed(1)}`);
  if (points.length > 1) {
    svg.append(svgElement('polygon', { points: `${start},${HEIGHT} ${points.join(' ')} ${WIDTH},${HEIGHT}`, class: 'area' }));
    svg.append(svgElement('polyline', { points: points.join(' '), class: 'line' }));
  }
  const label = svgElement('text', { x: WIDTH - 2, y: 8, 'text-anchor': 'end' });
  label.textContent = `max ${formatNumber(max)}`;
  svg.append(label);
  container.replaceChildren(svg);
}

/** Draws per-bucket counts as bars, each labelled with its upper bound on hover. */
export function histogram(container: HTMLElement, bounds: readonly number[], counts: readonly number[], over: number): void {
  const svg = svgElement('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'histogram', role: 'img' });
  const bars = [...counts, over];
  const max = Math.max(1, ...bars);
  const width = WIDTH / bars.length;
  bars.forEach((count, index) => {
    const height = count === 0 ? 0 : Math.max(1, (count / max) * (HEIGHT - 12));
    const bar = svgElement('rect', { x: (index * width + 1).toFixed(1), y: (HEIGHT - 10 - height).toFixed(1), width: (width - 2).toFixed(1), height: height.toFixed(1) });
    const title = svgElement('title', {});
    const bound = bounds[index];
    title.textContent = `${bound === undefined ? `over ${formatSeconds(bounds[bounds.length - 1] ?? 0)}` : `≤ ${formatSeconds(bound)}`}: ${count}`;
    bar.append(title);
    svg.append(bar);
  });
  for (const [index, anchor] of [
    [0, 'start'],
    [Math.floor(bounds.length / 2), 'middle'],
    [bounds.length - 1, 'end'],
  ] as const) {
    const bound = bounds[index];
    if (bound === undefined) continue;
    const x = anchor === 'start' ? index * width : anchor === 'end' ? (index + 1) * width : index * width + width / 2;
    const tick = svgElement('text', { x: x.toFixed(1), y: HEIGHT - 1, 'text-anchor': anchor });
    tick.textContent = formatSeconds(bound);
    svg.append(tick);
  }
  container.replaceChildren(svg);
}

/** The bucket bound below which `fraction` of the observations fall (an upper estimate), or undefined without observations. */
export function quantile(bounds: readonly number[], counts: readonly number[], fraction: number): number | undefined {
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total === 0) return undefined;
  let seen = 0;
  for (const [index, count] of counts.entries()) {
    seen += count;
    if (seen >= fraction * total) return bounds[index];
  }
  return undefined;
}

export function formatSeconds(seconds: number): string {
  if (seconds < 1e-3) return `${Math.round(seconds * 1e6)}µs`;
  if (seconds < 1) return `${+(seconds * 1e3).toPrecision(2)}ms`;
  return `${+seconds.toPrecision(2)}s`;
}

export function formatNumber(value: number): string {
  if (value >= 1e6) return `${+(value / 1e6).toPrecision(3)}M`;
  if (value >= 1e3) return `${+(value / 1e3).toPrecision(3)}k`;
  return `${+value.toPrecision(3)}`;
}
