// Reading the CLI's psql-like tables and snapshotting the realtime tables, for the CLI tests.
import assert from 'node:assert/strict';
import type pg from 'pg';
import type { CliResult } from '../helpers/cli.js';

/** A parsed table: its header cells and its rows as objects keyed by header. */
export interface ParsedTable {
  readonly columns: string[];
  readonly rows: Record<string, string>[];
}

/** Parses a psql-like table (` a | b`, `---+---`, rows, `(N rows)`), checking the footer's count and the alignment. */
export function parseTable(text: string): ParsedTable {
  const lines = text.replace(/\n$/, '').split('\n');
  const footer = lines.at(-1) ?? '';
  const match = /^\((\d+) rows?\)$/.exec(footer);
  assert.ok(match, `no "(N rows)" footer in:\n${text}`);
  const [header = '', rule = '', ...body] = lines.slice(0, -1);
  assert.match(rule, /^-+(\+-+)*$/, `no rule line under the header in:\n${text}`);
  const widths = rule.split('+').map((part) => part.length);
  const split = (line: string) => {
    const cells: string[] = [];
    let position = 0;
    for (const width of widths) {
      cells.push(
        [...line]
          .slice(position, position + width)
          .join('')
          .trim(),
      );
      position += width + 1;
    }
    return cells;
  };
  const columns = split(header);
  for (const line of body) {
    // Every separator sits at the same place on every line: the columns are aligned.
    const chars = [...line];
    let position = 0;
    for (const width of widths.slice(0, -1)) {
      position += width;
      assert.equal(chars[position], '|', `misaligned row:\n${line}\nin:\n${text}`);
      position += 1;
    }
  }
  const rows = body.map((line) => Object.fromEntries(split(line).map((cell, i) => [columns[i] ?? '', cell])));
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
