// Fans one batch of changes out to subscriptions: bindings and filters matched, access checked once per audience, frames sent in order.
import type { Change, TableDescription } from '@nself/db';
import type { Metrics } from '../metrics.js';
import type { AccessChecker, RoleAccess } from './access.js';
import { SERVICE_ROLE, type Audience } from './audience.js';
import type { TableCatalog } from './catalog.js';
import { judgeFilters, type JudgeContext } from './filter-judge.js';
import { changeData, type ChangeView } from './frame.js';
import { tableKey, type ResolvedBinding } from './plan.js';
import type { ChangeEvent, TableSubscription } from './subscription.js';
import { isTransient } from './transient.js';
import { SharedFrames } from '../shared-frames.js';
import { LogCode } from '../log-codes.js';

/** What delivering needs from the server. */
export interface DeliveryContext extends JudgeContext {
  readonly catalog: TableCatalog;
  readonly access: AccessChecker;
  readonly metrics: Metrics | undefined;
}

/** Audiences whose row checks run at the same time, each on its own pooled connection. */
const PARALLEL_CHECKS = 4;

/** Subscriptions whose filters hold at most this many values in all are delivered before the others. */
const LIGHT_FILTER_WEIGHT = 100;

interface Match {
  readonly subscription: TableSubscription;
  readonly index: number;
  readonly bindings: readonly ResolvedBinding[];
}

interface Outgoing {
  readonly change: Change;
  readonly subscription: TableSubscription;
  readonly event: ChangeEvent;
  /** The delivery of `event`: every subscription sent the same event shares its frames. */
  readonly frames: SharedFrames;
}

/**
 * Delivers `changes` (in position order) to `subscriptions`: each subscription gets, in order, one
 * frame per change after its cursor that matches at least one of its bindings and that its audience
 * may see; then every cursor moves to `upTo`. TRUNCATE is never sent. Subscriptions with light
 * filters (most) are served first, so that heavy filters delay only their own subscribers. Throws
 * only on connection trouble (the caller retries the batch; cursors make the retry send nothing
 * twice); a check that fails for another reason is logged and hides the change from the audience concerned.
 */
export async function deliverBatch(ctx: DeliveryContext, changes: readonly Change[], subscriptions: readonly TableSubscription[], upTo: number): Promise<void> {
  const light = subscriptions.filter((subscription) => subscription.filterWeight <= LIGHT_FILTER_WEIGHT);
  const heavy = subscriptions.filter((subscription) => subscription.filterWeight > LIGHT_FILTER_WEIGHT);
  await deliverTo(ctx, changes, light, upTo);
  if (heavy.length > 0) await deliverTo(ctx, changes, heavy, upTo);
}

async function deliverTo(ctx: DeliveryContext, changes: readonly Change[], subscriptions: readonly TableSubscription[], upTo: number): Promise<void> {
  const outgoing: Outgoing[] = [];
  const byTable = groupBy(
    changes.filter((change) => change.operation !== 'TRUNCATE'),
    (change) => tableKey(change.schema, change.table),
  );
  for (const tableChanges of byTable.values()) {
    const first = tableChanges[0] as Change;
    const interested = subscriptions.filter((subscription) => subscription.watches(first.schema, first.table));
    if (interested.length === 0) continue;
    const info = await ctx.catalog.describe(first);
    if (!info) continue;
    const roles = new Map<string, Promise<RoleAccess>>();
    const accessOf = (audience: Audience): Promise<RoleAccess> => {
      const key = audience.service ? `\u0000${SERVICE_ROLE}` : audience.role;
      const known = roles.get(key) ?? ctx.access.roleAccess(audience, info, first.accessVersion);
      roles.set(key, known);
      return known;
    };
    const verdicts = await judgeFilters(ctx, info, tableChanges, filtersOf(interested, info));
    const keysOnly = await rowSecuredAudiences(ctx, info, tableChanges, interested, accessOf);
    const matches: Match[] = [];
    for (const subscription of interested) {
      const secured = keysOnly.has(subscription.audience.key);
      const late = new Set<ResolvedBinding>();
      tableChanges.forEach((change, index) => {
        if (change.position <= subscription.cursor) return;
        const bindings = subscription.matching(change, (binding) => {
          if (binding.conditions.length === 0) return true;
          const verdict = verdicts.passes(binding.filterKey, index, secured);
          if (verdict === undefined) late.add(binding);
          return verdict === true;
        });
        if (bindings.length > 0) matches.push({ subscription, index, bindings });
      });
      for (const binding of late) subscription.report(overBudgetNotice(binding, info, ctx.filterBudgetMs));
    }
    const views = new Map<string, Map<number, ChangeView>>();
    const viewOf = internedViews();
    const groups = [...groupBy(matches, (match) => match.subscription.audience.key)];
    for (let start = 0; start < groups.length; start += PARALLEL_CHECKS) {
      await Promise.all(
        groups.slice(start, start + PARALLEL_CHECKS).map(async ([key, group]) => {
          const audience = group[0]?.subscription.audience as Audience;
          const indexes = [...new Set(group.map((match) => match.index))];
          views.set(key, await viewsFor(ctx, audience, () => accessOf(audience), info, tableChanges, indexes, viewOf));
        }),
      );
    }
    // Subscribers that see a change alike (the same view, bindings and select) share one event object
    // and its frames, so its frame is built and encoded once per variant.
    const events = new Map<ChangeView, Map<string, { event: ChangeEvent; frames: SharedFrames }>>();
    for (const match of matches) {
      const view = views.get(match.subscription.audience.key)?.get(match.index);
      if (!view) continue;
      const change = tableChanges[match.index] as Change;
      const ids = match.bindings.map((binding) => binding.id);
      const selected = selectedColumns(match.bindings);
      const key = `${match.index}|${ids.join(',')}|${selected?.join('\u0000') ?? ''}`;
      const alike = events.get(view) ?? new Map<string, { event: ChangeEvent; frames: SharedFrames }>();
      events.set(view, alike);
      let shared = alike.get(key);
      if (!shared) {
        shared = { event: { ids, data: changeData(change, info, selected ? narrowToSelect(view, selected, info) : view) }, frames: new SharedFrames() };
        alike.set(key, shared);
      }
      outgoing.push({ change, subscription: match.subscription, ...shared });
    }
  }
  outgoing.sort((a, b) => a.change.position - b.change.position);
  for (const frame of outgoing) frame.subscription.deliver(frame.change.position, frame.event, frame.frames);
  if (outgoing.length > 0) ctx.metrics?.messagesOut.inc({ kind: 'postgres_changes' }, outgoing.length);
  observeLatencies(ctx.metrics, outgoing);
  for (const subscription of subscriptions) subscription.cursor = Math.max(subscription.cursor, upTo);
}

/** The `system` error of a binding whose filter could not be judged in time. */
function overBudgetNotice(binding: ResolvedBinding, info: TableDescription, budgetMs: number): string {
  return (
    `Unable to deliver table changes to binding [event: ${binding.event}, schema: ${info.schema}, table: ${info.table}, filters: [${binding.filterKey}]]: ` +
    `judging its filter took longer than ${budgetMs} ms; the changes of this batch were withheld from it`
  );
}

/** Records, once per change delivered to anyone, the time from the change to its delivery (`outgoing` is in position order). */
function observeLatencies(metrics: Metrics | undefined, outgoing: readonly Outgoing[]): void {
  if (!metrics) return;
  const now = Date.now();
  let previous: Change | undefined;
  for (const { change } of outgoing) {
    if (change === previous) continue;
    previous = change;
    metrics.changeDeliveryLatency.observe(Math.max(0, now - change.commitTimestamp.getTime()) / 1000);
  }
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

/** The distinct filters of the interested bindings on `info`, by filter key. */
function filtersOf(interested: readonly TableSubscription[], info: TableDescription): Map<string, ResolvedBinding['conditions']> {
  const filters = new Map<string, ResolvedBinding['conditions']>();
  for (const subscription of interested) {
    for (const binding of subscription.bindings) {
      if (binding.conditions.length > 0 && binding.table === info.table && binding.schema === info.schema) filters.set(binding.filterKey, binding.conditions);
    }
  }
  return filters;
}

/**
 * The keys of the audiences row-level security applies to on `info` (not the service role, nor a role
 * that bypasses it), when the batch has DELETEs: their DELETE filters are judged on the primary key
 * alone. An audience whose access cannot be read counts as one (its changes are withheld anyway).
 */
async function rowSecuredAudiences(
  ctx: DeliveryContext,
  info: TableDescription,
  changes: readonly Change[],
  interested: readonly TableSubscription[],
  accessOf: (audience: Audience) => Promise<RoleAccess>,
): Promise<Set<string>> {
  const secured = new Set<string>();
  if (!info.rowSecurity || !changes.some((change) => change.operation === 'DELETE')) return secured;
  const audiences = new Map(interested.map((subscription) => [subscription.audience.key, subscription.audience]));
  await Promise.all(
    [...audiences.values()].map(async (audience) => {
      if (audience.service) return;
      try {
        if ((await accessOf(audience)).policy.kind !== 'bypass') secured.add(audience.key);
      } catch (error) {
        if (isTransient(error)) throw error;
        secured.add(audience.key);
      }
    }),
  );
  return secured;
}

/** One view object per (columns shown, old keys only), so audiences of one role share their views and events. */
function internedViews(): (shown: ReadonlySet<string>, oldKeysOnly: boolean) => ChangeView {
  const known = new Map<ReadonlySet<string>, [ChangeView, ChangeView]>();
  return (shown, oldKeysOnly) => {
    let pair = known.get(shown);
    if (!pair) {
      pair = [
        { shown, oldKeysOnly: false },
        { shown, oldKeysOnly: true },
      ];
      known.set(shown, pair);
    }
    return pair[oldKeysOnly ? 1 : 0];
  };
}

/** How `audience` sees each of the changes at `indexes`; a change it may not see has no entry. */
async function viewsFor(
  ctx: DeliveryContext,
  audience: Audience,
  accessOf: () => Promise<RoleAccess>,
  info: TableDescription,
  changes: readonly Change[],
  indexes: readonly number[],
  viewOf: (shown: ReadonlySet<string>, oldKeysOnly: boolean) => ChangeView,
): Promise<Map<number, ChangeView>> {
  const views = new Map<number, ChangeView>();
  try {
    const { shown, policy } = await accessOf();
    if (shown.size === 0) return views;
    // Under row-level security `old_record` carries only the primary key. A DELETE is judged on its
    // old row when that row is complete (REPLICA IDENTITY FULL); otherwise, as in Supabase, it is
    // sent with the primary key alone, unless the role may see no row at all.
    const rowSecured = info.rowSecurity && policy.kind !== 'bypass';
    const judgesDeletes = rowSecured && (completeOldRow(info) || policy.kind === 'deny');
    const checked = indexes.filter((index) => changes[index]?.operation !== 'DELETE' || judgesDeletes);
    const rows = checked.map((index) => {
      const change = changes[index] as Change;
      return (change.operation === 'DELETE' ? change.old : change.new) ?? {};
    });
    const visible = await ctx.access.visibleRecords(audience, info, policy, rows);
    checked.forEach((index, position) => {
      if (visible.has(position)) views.set(index, viewOf(shown, rowSecured));
    });
    if (!judgesDeletes) for (const index of indexes) if (changes[index]?.operation === 'DELETE') views.set(index, viewOf(shown, rowSecured));
  } catch (error) {
    if (isTransient(error)) throw error;
    ctx.logger.warn(
      { code: LogCode.tableAccessCheckFailed, err: error, role: audience.role, table: `${info.schema}.${info.table}` },
      'checking access to table changes failed; the changes are withheld from this role',
    );
    views.clear();
  }
  return views;
}

/** The captured old row is whole as far as the table declares it: REPLICA IDENTITY FULL. */
function completeOldRow(info: TableDescription): boolean {
  return info.identityColumns.length === info.columns.length;
}

/** The columns asked for when every matching binding has `select` (sorted, without repeats), else null: all of them. */
function selectedColumns(bindings: readonly ResolvedBinding[]): string[] | null {
  if (bindings.some((binding) => binding.select === null)) return null;
  return [...new Set(bindings.flatMap((binding) => binding.select ?? []))].sort();
}

/** The view narrowed to the selected columns and the primary key. */
function narrowToSelect(view: ChangeView, selected: readonly string[], info: TableDescription): ChangeView {
  const wanted = new Set([...info.primaryKey, ...selected]);
  return { ...view, shown: new Set([...view.shown].filter((name) => wanted.has(name))) };
}
