// Prints command results: psql-like aligned tables, or JSON when asked for.

export type Cell = string | number | boolean | null | undefined | Date | object;
export type Row = Record<string, Cell>;

/** How a listing is printed. */
export type OutputFormat = 'table' | 'json';

/** Renders one cell the way psql does: empty for null, ISO-like text for dates, JSON for objects. */
export function formatCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return formatTimestamp(value);
  if (typeof value === 'object') return jsonText(value);
  return String(value);
}

/** JSON the way psql prints jsonb: `{"device": "mobile", "tags": [1, 2]}`, on one line. */
export function jsonText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jsonText).join(', ')}]`;
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    return `{${Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}: ${jsonText(item)}`).join(', ')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** `2026-01-30 10:30:00` in UTC, as the seed's example outputs show. */
export function formatTimestamp(date: Date): string {
  return date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
}

/** A psql-like aligned table with a `(N rows)` footer. */
export function renderTable(columns: readonly string[], rows: readonly Row[]): string {
  const cells = rows.map((row) => columns.map((column) => formatCell(row[column])));
  const widths = columns.map((column, i) => Math.max(column.length, ...cells.map((line) => displayWidth(line[i] ?? ''))));
  const pad = (text: string, width: number) => text + ' '.repeat(Math.max(0, width - displayWidth(text)));
  const lines = [
    columns.map((column, i) => ` ${pad(column, widths[i] ?? 0)} `).join('|').trimEnd(),
    widths.map((width) => '-'.repeat(width + 2)).join('+'),
    ...cells.map((line) => line.map((cell, i) => ` ${pad(cell, widths[i] ?? 0)} `).join('|').trimEnd()),
    `(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})`,
  ];
  return lines.join('\n') + '\n';
}

/** JSON with dates as ISO strings, pretty-printed. */
export function renderJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** Prints rows in the requested format. */
export function printRows(format: OutputFormat, columns: readonly string[], rows: readonly Row[]): void {
  process.stdout.write(format === 'json' ? renderJson(rows) : renderTable(columns, rows));
}

function displayWidth(text: string): number {
  // Newlines would break alignment; count code points so that unicode names line up.
  return [...text.replace(/\n/g, '\\n')].length;
}
