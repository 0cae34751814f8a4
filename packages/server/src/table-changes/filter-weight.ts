// The work judging a binding filter takes per row, which orders and packs the filter statements.
import type { BindingFilterCondition } from '@nself/protocol';

/** The work judging `conditions` takes per row, counted in values compared (at least one per condition). */
export function filterWeight(conditions: readonly BindingFilterCondition[]): number {
  return conditions.reduce((sum, condition) => sum + Math.max(1, condition.values.length), 0);
}
