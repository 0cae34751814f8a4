// The order a change feed must deliver in: dense positions, and each writer's rows in its own commit order, once.
import assert from 'node:assert/strict';
import type { Change } from '@nself/db';

/**
 * Asserts positions are dense and increasing and each writer's rows (columns `writer`, `seq`) arrive
 * in that writer's commit order, numbered from `from`.
 */
export function assertCommitOrder(changes: readonly Change[], writers: number, rows: number, from = 0): void {
  assert.equal(changes.length, writers * rows, 'every change arrives');
  for (let i = 1; i < changes.length; i += 1) {
    assert.equal(changes[i]!.position, changes[i - 1]!.position + 1, `positions are dense at index ${i}`);
  }
  const next = new Map<number, number>();
  for (const change of changes) {
    const row = change.new as { writer: number; seq: number };
    const expected = next.get(row.writer) ?? from;
    assert.equal(row.seq, expected, `writer ${row.writer}: seq ${row.seq} arrives after ${expected - 1}, once`);
    next.set(row.writer, expected + 1);
  }
  assert.equal(next.size, writers);
}
