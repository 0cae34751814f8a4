// Judges a batch of changes against the subscribers' filters, each statement within a time budget, so a costly filter holds up only the bindings that use it.
import type { Change, Pool, TableDescription } from '@nself/db';
import type { BindingFilterCondition } from '@nself/protocol';
import type { Logger } from '../logger.js';
import { isRefusal, Refusal } from '../refusal.js';
import { evaluateFilters } from './binding-filter-sql.js';
import { filterWeight } from './filter-weight.js';
import { isTransient } from './transient.js';
import { LogCode } from '../log-codes.js';

/** Most filter values judged in one statement; more go to further statements. */
const STATEMENT_WEIGHT = 10_000;
/** Statements running at once, each on its own pooled connection. */
const PARALLEL_STATEMENTS = 4;
/** SQLSTATE of a statement cancelled, here by its statement_timeout. */
const QUERY_CANCELED = '57014';

/** What judging needs from the server. */
export interface JudgeContext {
  readonly pool: Pool;
  readonly logger: Logger;
  /** Time one statement may take, in ms. */
  readonly filterBudgetMs: number;
}

/** The verdicts on one batch of one table's changes. */
export interface FilterVerdicts {
  /**
   * Whether change `index` passes the filter `filterKey`, judged on its new row (INSERT, UPDATE) or
   * its old row (DELETE). With `keysOnly`, a DELETE is judged on the primary key of its old row
   * alone, what a subscriber under row-level security may see of it: a filter on any other column
   * never passes. Undefined when the filter could not be judged within the time budget.
   */
  passes(filterKey: string, index: number, keysOnly: boolean): boolean | undefined;
}

/**
 * Judges `changes` (of `table`) against each of `filters` (by filter key). Filters are packed into
 * statements of bounded weight, run a few at a time, each with `statement_timeout` set to the budget;
 * a statement that runs out of time is split until the filters that cannot be judged in time are
 * found alone: only those have no verdict. Throws only on connection trouble; a filter that fails for
 * another reason (logged) passes nothing.
 */
export async function judgeFilters(
  ctx: JudgeContext,
  table: TableDescription,
  changes: readonly Change[],
  filters: ReadonlyMap<string, readonly BindingFilterCondition[]>,
): Promise<FilterVerdicts> {
  const rows = changes.map((change) => (change.operation === 'DELETE' ? change.old : change.new) ?? {});
  const keyRowAt = new Map<number, number>();
  if (table.rowSecurity) {
    changes.forEach((change, index) => {
      if (change.operation !== 'DELETE') return;
      keyRowAt.set(index, rows.length);
      rows.push(Object.fromEntries(table.primaryKey.map((name) => [name, change.old?.[name] ?? null])));
    });
  }
  const results = new Map<string, boolean[] | undefined>();
  const chunks = packed([...filters.keys()], (key) => filterWeight(filters.get(key) ?? []));
  for (let start = 0; start < chunks.length; start += PARALLEL_STATEMENTS) {
    await Promise.all(chunks.slice(start, start + PARALLEL_STATEMENTS).map((keys) => judgeChunk(ctx, table, rows, keys, filters, results)));
  }
  const keyOnly = new Map([...filters].map(([key, conditions]) => [key, conditions.every((condition) => table.primaryKey.includes(condition.column))]));
  return {
    passes(filterKey, index, keysOnly) {
      const verdicts = results.get(filterKey);
      if (!verdicts) return results.has(filterKey) ? undefined : false;
      const keyRow = keysOnly ? keyRowAt.get(index) : undefined;
      if (keyRow === undefined) return verdicts[index] ?? false;
      return keyOnly.get(filterKey) === true && verdicts[keyRow] === true;
    },
  };
}

/** Splits `keys` into runs of at most STATEMENT_WEIGHT in all (a heavier single key gets a run of its own). */
function packed(keys: readonly string[], weightOf: (key: string) => number): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let weight = 0;
  for (const key of keys) {
    const own = weightOf(key);
    if (current.length > 0 && weight + own > STATEMENT_WEIGHT) {
      chunks.push(current);
      current = [];
      weight = 0;
    }
    current.push(key);
    weight += own;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

async function judgeChunk(
  ctx: JudgeContext,
  table: TableDescription,
  rows: readonly Record<string, unknown>[],
  keys: readonly string[],
  filters: ReadonlyMap<string, readonly BindingFilterCondition[]>,
  results: Map<string, boolean[] | undefined>,
): Promise<void> {
  try {
    const verdicts = await evaluateWithinBudget(
      ctx,
      table,
      rows,
      keys.map((key) => filters.get(key) ?? []),
    );
    keys.forEach((key, filterIndex) =>
      results.set(
        key,
        verdicts.map((row) => row[filterIndex] ?? false),
      ),
    );
  } catch (error) {
    if (isRefusal(error, 'FilterBudgetExceeded')) {
      if (keys.length === 1) {
        results.set(keys[0] as string, undefined);
        return;
      }
      const half = Math.ceil(keys.length / 2);
      await judgeChunk(ctx, table, rows, keys.slice(0, half), filters, results);
      await judgeChunk(ctx, table, rows, keys.slice(half), filters, results);
      return;
    }
    if (isTransient(error)) throw error;
    ctx.logger.warn(
      { code: LogCode.tableFilterFailed, err: error, table: `${table.schema}.${table.table}` },
      'evaluating postgres_changes filters failed; their bindings receive nothing from this batch',
    );
    for (const key of keys)
      results.set(
        key,
        rows.map(() => false),
      );
  }
}

/** `evaluateFilters` in a read-only transaction whose statements may take at most the budget. */
async function evaluateWithinBudget(
  ctx: JudgeContext,
  table: TableDescription,
  rows: readonly Record<string, unknown>[],
  filters: readonly (readonly BindingFilterCondition[])[],
): Promise<boolean[][]> {
  const client = await ctx.pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(`BEGIN READ ONLY; SET LOCAL statement_timeout = ${Math.max(1, Math.floor(ctx.filterBudgetMs))}`);
    const started = Date.now();
    try {
      return await evaluateFilters(client, table, rows, filters);
    } catch (error) {
      const timedOut = (error as { code?: unknown }).code === QUERY_CANCELED && Date.now() - started >= ctx.filterBudgetMs * 0.9;
      throw timedOut ? new Refusal('FilterBudgetExceeded', `judging filters took longer than ${ctx.filterBudgetMs} ms`) : error;
    }
  } finally {
    await client.query('ROLLBACK').catch((error: unknown) => {
      broken = error instanceof Error ? error : new Error(String(error));
    });
    client.release(broken);
  }
}
