// Checks what each client received against a channel's log in realtime.messages: lost, duplicated and reordered offsets.
import assert from 'node:assert/strict';
import type pg from 'pg';

/** What one client got wrong, compared with the log. */
export interface DeliveryReport {
  readonly client: string;
  /** Offsets in the log that the client never received. */
  readonly lost: number[];
  /** Offsets the client received more than once. */
  readonly duplicated: number[];
  /** Offsets received after a higher one (out of order). */
  readonly reordered: number[];
  /** Offsets received that are not in the log at all. */
  readonly unknown: number[];
}

/** Compares one client's received offsets, in arrival order, with the log's offsets. */
export function compareWithLog(client: string, log: readonly number[], received: readonly number[]): DeliveryReport {
  const inLog = new Set(log);
  const seen = new Set<number>();
  const duplicated: number[] = [];
  const reordered: number[] = [];
  const unknown: number[] = [];
  let highest = -Infinity;
  for (const offset of received) {
    if (seen.has(offset)) duplicated.push(offset);
    else if (offset < highest) reordered.push(offset);
    if (!inLog.has(offset)) unknown.push(offset);
    seen.add(offset);
    highest = Math.max(highest, offset);
  }
  return { client, lost: log.filter((offset) => !seen.has(offset)), duplicated, reordered, unknown };
}

/** One line per client that got something wrong, with the first few offsets of each kind. */
export function describeProblems(reports: readonly DeliveryReport[]): string {
  const show = (name: string, offsets: number[]) => (offsets.length ? ` ${name} ${offsets.length} (${offsets.slice(0, 8).join(', ')}${offsets.length > 8 ? ', …' : ''})` : '');
  return reports
    .filter((report) => report.lost.length + report.duplicated.length + report.reordered.length + report.unknown.length > 0)
    .map(
      (report) => `${report.client}:${show('lost', report.lost)}${show('duplicated', report.duplicated)}${show('reordered', report.reordered)}${show('unknown', report.unknown)}`,
    )
    .join('\n');
}

/** Fails, naming every client and what it lost, got twice or out of order, unless each received the log exactly once in order. */
export function assertExactlyOnceInOrder(log: readonly number[], received: ReadonlyMap<string, readonly number[]>): void {
  const reports = [...received].map(([client, offsets]) => compareWithLog(client, log, offsets));
  const problems = describeProblems(reports);
  assert.equal(problems, '', `delivery problems against the log of ${log.length} messages:\n${problems}`);
}

/** The offsets stored in a channel's log, in order. */
export async function logOffsets(pool: pg.Pool, slug: string): Promise<number[]> {
  const { rows } = await pool.query<{ offset: string }>(
    `SELECT m.channel_offset AS offset FROM realtime.messages m JOIN realtime.channels c ON c.id = m.channel_id
      WHERE c.slug = $1 ORDER BY m.channel_offset`,
    [slug],
  );
  return rows.map((row) => Number(row.offset));
}
