// Prints command results: psql-like aligned tables, or JSON when asked for.
import { ExactNumber, stringifyExact, UNPRINTABLE_CHARACTERS } from '@nself/db/values';

export type Cell = string | number | boolean | null | undefined | Date | object;
export type Row = Record<string, Cell>;

/** How a listing is printed. */
export type OutputFormat = 'table' | 'json';

/**
 * Control characters data may carry (C0, DEL, C1, bidirectional overrides and isolates): written raw,
 * a channel name, event, user id or payload could clear the operator's screen, move the cursor or
 * forge rows. The CLI never writes them from data; they are shown escaped instead.
 */
const CONTROL_CHARACTERS = new RegExp(UNPRINTABLE_CHARACTERS.source, 'gu');

/** Those of CONTROL_CHARACTERS that JSON.stringify leaves raw in its output (it escapes C0 itself). */
const CONTROL_CHARACTERS_JSON_KEEPS = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/gu;
const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `\n`, `\x1b` for a C0/C1 control or DEL, `\u202e` for a bidirectional control: visible, as a JS string would say it. */
function escapeControl(character: string): string {
  const code = character.codePointAt(0) ?? 0;
  return SHORT_ESCAPES[character] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/** Text safe for a terminal: every control character escaped; with `keepNewlines`, line breaks (the CLI's own) stay. */
export function terminalText(text: string, options: { keepNewlines?: boolean } = {}): string {
  return text.replace(CONTROL_CHARACTERS, (character) => (options.keepNewlines && character === '\n' ? character : escapeControl(character)));
}

/** Writes a message to standard output, control characters of the data in it escaped (`terminalText`). */
export function say(text: string): void {
  process.stdout.write(terminalText(text, { keepNewlines: true }));
}

/** Renders one cell the way psql does: empty for null, ISO-like text for dates (in UTC, marked Z), JSON for objects; control characters escaped. */
export function formatCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return formatTimestamp(value);
  if (typeof value === 'object') return terminalText(jsonText(value));
  return terminalText(String(value));
}

/** JSON the way psql prints jsonb: `{"device": "mobile", "tags": [1, 2]}`, on one line. */
export function jsonText(value: unknown): string {
  if (value instanceof ExactNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(jsonText).join(', ')}]`;
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    return `{${Object.entries(value)
      .map(([key, item]) => `${JSON.stringify(key)}: ${jsonText(item)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** `2026-01-30 10:30:00Z`: the seed's layout, in UTC, with the zone marked so that no one reads it as local time. */
export function formatTimestamp(date: Date): string {
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** Text whose terminal width is its length: printable ASCII only. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * How many terminal columns each text takes: its length when all of them are printable ASCII, else string-width's count
 * (wide CJK characters and emoji take two), loaded only then since loading it is a good part of a command's start-up.
 */
async function terminalWidth(texts: readonly string[]): Promise<(text: string) => number> {
  if (texts.every((text) => PRINTABLE_ASCII.test(text))) return (text) => text.length;
  const { default: stringWidth } = await import('string-width');
  return stringWidth;
}

/** A psql-like aligned table with a `(N rows)` footer, measured in terminal columns (wide CJK characters and emoji take two). */
export async function renderTable(columns: readonly string[], rows: readonly Row[]): Promise<string> {
  const cells = rows.map((row) => columns.map((column) => formatCell(row[column])));
  const columnsOf = await terminalWidth([...columns, ...cells.flat()]);
  const widths = columns.map((column, i) => Math.max(columnsOf(column), ...cells.map((line) => columnsOf(line[i] ?? ''))));
  const pad = (text: string, width: number) => text + ' '.repeat(Math.max(0, width - columnsOf(text)));
  const lines = [
    columns
      .map((column, i) => ` ${pad(column, widths[i] ?? 0)} `)
      .join('|')
      .trimEnd(),
    widths.map((width) => '-'.repeat(width + 2)).join('+'),
    ...cells.map((line) =>
      line
        .map((cell, i) => ` ${pad(cell, widths[i] ?? 0)} `)
        .join('|')
        .trimEnd(),
    ),
    `(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})`,
  ];
  return lines.join('\n') + '\n';
}

/**
 * JSON with dates as ISO strings, pretty-printed. JSON escapes C0 controls itself; DEL, C1 and
 * bidirectional controls are written as `\u` escapes too (the same JSON value).
 */
export function renderJson(value: unknown): string {
  return stringifyExact(value, 2).replace(CONTROL_CHARACTERS_JSON_KEEPS, (character) => `\\u${(character.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`) + '\n';
}

/** Prints rows in the requested format. */
export async function printRows(format: OutputFormat, columns: readonly string[], rows: readonly Row[]): Promise<void> {
  process.stdout.write(format === 'json' ? renderJson(rows) : await renderTable(columns, rows));
}
