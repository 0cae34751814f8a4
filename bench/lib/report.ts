// A benchmark's result: tables of figures, target checks with ratios, delivery problems; printed and saved for docs/performance.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { benchDir } from './paths.js';

/** A table of figures, one row per system or case. */
export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<ReadonlyArray<string | number>>;
}

/** One target of the issue and whether this run met it (null: could not be measured). */
export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | null;
}

/** Everything a benchmark reports. */
export interface BenchResult {
  readonly id: string;
  readonly title: string;
  readonly date: string;
  readonly durationS: number;
  readonly options: Record<string, number>;
  readonly tables: Table[];
  readonly targets: TargetCheck[];
  /** Gaps, duplicates and missing messages found over every side (must be 0). */
  readonly deliveryProblems: number;
  readonly notes: string[];
}

/** Formats a number with `digits` decimals ("n/a" when it is not a number). */
export function fmt(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return 'n/a';
  return Math.abs(value) >= 1000 ? Math.round(value).toLocaleString('en-US') : value.toFixed(digits);
}

/** `ours / baseline` as "0.83×" ("n/a" when either is missing). */
export function ratio(ours: number, baseline: number): string {
  return Number.isFinite(ours) && Number.isFinite(baseline) && baseline !== 0 ? `${(ours / baseline).toFixed(2)}×` : 'n/a';
}

/** Renders a table as Markdown (also readable in a terminal). */
export function markdownTable(table: Table): string {
  const widths = table.columns.map((column, index) => Math.max(column.length, ...table.rows.map((row) => String(row[index] ?? '').length)));
  const line = (cells: ReadonlyArray<string | number>) => `| ${cells.map((cell, index) => String(cell).padEnd(widths[index] ?? 0)).join(' | ')} |`;
  return [line(table.columns), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...table.rows.map(line)].join('\n');
}

/** The Markdown of a whole result: tables, then the targets, then notes. */
export function renderResult(result: BenchResult): string {
  const parts = [
    `### ${result.id}: ${result.title}`,
    '',
    `Options: ${Object.entries(result.options)
      .map(([key, value]) => `--${key} ${value}`)
      .join(' ')}; ${result.durationS.toFixed(0)} s; delivery problems (gaps + duplicates + missing): **${result.deliveryProblems}**.`,
    '',
  ];
  for (const table of result.tables) parts.push(`${table.title}:`, '', markdownTable(table), '');
  if (result.targets.length > 0) {
    parts.push(
      markdownTable({
        title: 'targets',
        columns: ['target', 'measured', 'verdict'],
        rows: result.targets.map((check) => [check.target, check.measured, check.met === null ? 'not measured' : check.met ? 'met' : 'missed']),
      }),
      '',
    );
  }
  for (const note of result.notes) parts.push(`- ${note}`);
  if (result.notes.length > 0) parts.push('');
  return parts.join('\n');
}

/** Where results are saved, one JSON file per benchmark. */
export const resultsDir = path.join(benchDir, 'results');

/** Prints the result and saves it as bench/results/<id>.json. */
export function publishResult(result: BenchResult): void {
  process.stdout.write(`\n${renderResult(result)}\n`);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(path.join(resultsDir, `${result.id}.json`), `${JSON.stringify(result, null, 2)}\n`);
}
