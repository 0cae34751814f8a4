// Reading the CLI's psql-like tables and snapshotting the realtime tables, for the CLI tests.
import assert from 'node:assert/strict';
import type pg from 'pg';
import stringWidth from 'string-width';
import type { CliResult } from '../helpers/cli.js';

/** A parsed table: its header cells and its rows as objects keyed by header. */
export interface ParsedTable {
  readonly columns: string[];
  readonly rows: Record<string, string>[];
}

/**
 * Parses a psql-like table (` a | b`, `---+---`, rows, `(N rows)`), checking the footer's count and the alignment as a terminal shows
 * it: every `|` in the column of the rule's `+` (wide characters, such as CJK and most emoji, take two columns).
 */
export function parseTable(text: string): ParsedTable {
  const lines = text.replace(/\n$/, '').split('\n');
  const footer = lines.at(-1) ?? '';
  const match = /^\((\d+) rows?\)$/.exec(footer);
  assert.ok(match, `no "(N rows)" footer in:\n${text}`);
  const [header = '', rule = '', ...body] = lines.slice(0, -1);
  assert.match(rule, /^-+(\+-+)*$/, `no rule line under the header in:\n${text}`);
  const widths = rule.split('+').map((part) => part.length);
  const columns = cut(header, widths, text);
  const cells = body.map((line) => cut(line, widths, text));
  const rows = cells.map((line) => Object.fromEntries(line.map((cell, i) => [columns[i] ?? '', cell])));
  assert.equal(rows.length, Number(match[1]), 'the footer counts the rows');
  return { columns, rows };
}

/** Asserts a failed command: exit 1, nothing on stdout, one `error: …` line on stderr matching `pattern`. */
export function assertUserError(result: CliResult, pattern: RegExp): void {
  assert.equal(result.code, 1, `expected exit 1, got ${result.code}; stdout: ${result.stdout}; stderr: ${result.stderr}`);
  assert.equal(result.stdout, '');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${result.stderr}`);
  assert.match(lines[0] ?? '', /^error: /);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

/** The contents of every realtime data table, to show that a failed command wrote nothing. */
export async function snapshot(pool: pg.Pool): Promise<string> {
  const tables = ['channels', 'channel_members', 'messages', 'presence', 'subscriptions', 'connections'];
  const parts: string[] = [];
  for (const table of tables) {
    const { rows } = await pool.query(`SELECT to_jsonb(t) AS row FROM realtime.${table} t ORDER BY 1`);
    parts.push(`${table}: ${JSON.stringify(rows)}`);
  }
  return parts.join('\n');
}

/** The cells of a table line, cut at the terminal columns of the rule's `+`; a separator anywhere else fails, naming the line. */
function cut(line: string, widths: readonly number[], table: string): string[] {
  const characters = [...new Intl.Segmenter().segment(line)].map(({ segment }) => segment);
  const cells: string[] = [];
  let index = 0;
  for (const [column, width] of widths.entries()) {
    let cell = '';
    let used = 0;
    while (index < characters.length && used < width) {
      const character = characters[index++] ?? '';
      cell += character;
      used += stringWidth(character);
    }
    cells.push(cell.trim());
    if (column === widths.length - 1) break;
    assert.ok(used === width && characters[index] === '|', `misaligned row:\n${line}\nin:\n${table}`);
    index += 1;
  }
  return cells;
}
