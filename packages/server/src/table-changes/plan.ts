// Turns a join's bindings into a checked plan: the tables they cover, the events each needs, their filters.
import { resolveTable, tablesOfSchema, UserError, type Pool, type TableDescription } from '@nself/db';
import {
  ALL_ROW_EVENTS,
  BINDING_EVENTS,
  BindingFilterSyntaxError,
  bindingEventOf,
  parseBindingFilter,
  ROW_EVENTS,
  type BindingEvent,
  type BindingFilterCondition,
  type BindingFilterLimits,
  type CaptureEvent,
} from '@nself/protocol';
import type { IdentifiedBinding } from './postgres-changes.js';
import { isRefusal, Refusal } from '../refusal.js';
import type { AccessChecker } from './access.js';
import type { Audience } from './audience.js';
import type { TableCatalog } from './catalog.js';
import { checkFilterValues } from './binding-filter-sql.js';

/** A binding ready for matching: event upper-cased, `table` null for every table of the schema. */
export interface ResolvedBinding {
  readonly id: number;
  readonly event: BindingEvent;
  readonly schema: string;
  readonly table: string | null;
  readonly conditions: readonly BindingFilterCondition[];
  /** The filter's text: bindings with the same text share one evaluation. */
  readonly filterKey: string;
  /** Columns asked for with `select` (the primary key is always added), or null for all. */
  readonly select: readonly string[] | null;
}

/** What a subscription covers: its bindings and, per table, the events capture must record. */
export interface SubscriptionPlan {
  readonly bindings: readonly ResolvedBinding[];
  readonly tables: ReadonlyMap<string, { readonly info: TableDescription; readonly events: ReadonlySet<CaptureEvent> }>;
}

/**
 * The SubscriptionRefused refusal: its message is the `system` error the client receives (Supabase's texts),
 * naming the binding when there is one.
 */
export function subscriptionRefusal(reason: string, binding?: IdentifiedBinding): Refusal<'SubscriptionRefused'> {
  return new Refusal(
    'SubscriptionRefused',
    binding
      ? `Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: [event: ${binding.event}, schema: ${binding.schema}, table: ${binding.table ?? '*'}, filters: [${shortened(binding.filter ?? '')}]]: ${reason}`
      : `Unable to subscribe to changes with given parameters: ${reason}`,
  );
}

/** How much one join may ask for: bindings, and the size of each filter. */
export interface PlanLimits extends BindingFilterLimits {
  readonly maxBindingsPerJoin: number;
}

/** Longest filter text repeated in an error; a longer one is cut with an ellipsis. */
const ECHOED_FILTER_LENGTH = 200;

function shortened(text: string): string {
  return text.length > ECHOED_FILTER_LENGTH ? `${text.slice(0, ECHOED_FILTER_LENGTH)}…` : text;
}

/** What planning needs. */
export interface PlanContext {
  readonly pool: Pool;
  readonly catalog: TableCatalog;
  readonly access: AccessChecker;
  readonly limits: PlanLimits;
}

/**
 * True for PostgreSQL's own schemas: `information_schema` and every `pg_` schema (`pg_catalog`,
 * `pg_toast`, temporary schemas), a prefix PostgreSQL reserves for itself.
 */
export function isSystemSchema(schema: string): boolean {
  return schema === 'information_schema' || schema.startsWith('pg_');
}

/** Checks every binding for `audience` and resolves its tables; throws a SubscriptionRefused Refusal naming the first problem. */
export async function planSubscription(ctx: PlanContext, bindings: readonly IdentifiedBinding[], audience: Audience): Promise<SubscriptionPlan> {
  if (bindings.length > ctx.limits.maxBindingsPerJoin) {
    throw subscriptionRefusal(`too many postgres_changes bindings: ${bindings.length}. Maximum ${ctx.limits.maxBindingsPerJoin} per join`);
  }
  const resolved: ResolvedBinding[] = [];
  const tables = new Map<string, { info: TableDescription; events: Set<CaptureEvent> }>();
  for (const binding of bindings) {
    try {
      const { result, infos } = await resolveBinding(ctx, binding, audience);
      resolved.push(result);
      const events: readonly CaptureEvent[] = result.event === ALL_ROW_EVENTS ? ROW_EVENTS : [result.event];
      for (const info of infos) {
        const key = tableKey(info.schema, info.table);
        const entry = tables.get(key) ?? { info, events: new Set<CaptureEvent>() };
        for (const event of events) entry.events.add(event);
        tables.set(key, entry);
      }
    } catch (error) {
      if (error instanceof UserError || isRefusal(error, 'TableAccessDenied', 'InvalidFilter')) {
        throw subscriptionRefusal(error.message, binding);
      }
      throw error;
    }
  }
  return { bindings: resolved, tables };
}

/** The key of a table in maps: schema and name, unambiguous. */
export function tableKey(schema: string, table: string): string {
  return `${schema}\u0000${table}`;
}

async function resolveBinding(ctx: PlanContext, binding: IdentifiedBinding, audience: Audience): Promise<{ result: ResolvedBinding; infos: TableDescription[] }> {
  const event = bindingEventOf(binding.event);
  if (event === undefined) throw new UserError(`event "${binding.event}" is not one of ${BINDING_EVENTS.join(', ')}`);
  if (binding.schema === '*' || binding.schema.trim() === '') throw new UserError('schema must name one schema, such as public');
  if (binding.schema === 'realtime') throw new UserError("tables of the realtime schema are the engine's own and cannot be watched");
  if (isSystemSchema(binding.schema) && !audience.service) throw new UserError(`tables of the ${binding.schema} schema are PostgreSQL's own; only the service role may watch them`);
  const wildcard = binding.table === undefined || binding.table === '*';
  const conditions = readBindingFilter(binding.filter, ctx.limits);
  const select = binding.select ?? null;
  if (wildcard && (conditions.length > 0 || select)) throw new UserError('filter and select need a table; they are not accepted with every table of a schema');
  const base = { id: binding.id, event, schema: binding.schema, conditions, filterKey: binding.filter?.trim() ?? '', select };
  if (wildcard) {
    const infos: TableDescription[] = [];
    for (const name of await tablesOfSchema(ctx.pool, binding.schema)) {
      const info = await ctx.catalog.describe(name);
      if (info && (audience.service || (await ctx.access.readableColumns(audience, info)).size > 0)) infos.push(info);
    }
    return { result: { ...base, table: null }, infos };
  }
  const table = binding.table;
  await resolveTable(ctx.pool, { schema: binding.schema, table });
  const info = await ctx.catalog.describe({ schema: binding.schema, table });
  if (!info) throw new UserError(`table ${binding.schema}.${table} does not exist`);
  await ctx.access.assertCanRead(audience, info);
  const readable = await ctx.access.readableColumns(audience, info);
  const uses = [...conditions.map((condition) => ({ column: condition.column, where: 'filter' })), ...(select ?? []).map((column) => ({ column, where: 'select' }))];
  for (const { column, where } of uses) {
    if (!info.columns.some((known) => known.name === column)) throw new UserError(`invalid column for ${where} ${column}`);
    if (!readable.has(column)) throw new UserError(`role "${audience.role}" may not SELECT column ${column} of ${binding.schema}.${table}`);
  }
  if (conditions.length > 0) {
    try {
      await checkFilterValues(ctx.pool, info, conditions);
    } catch (error) {
      if (/^(22|42)/.test(String((error as { code?: unknown }).code))) throw new UserError(`invalid filter "${binding.filter}": ${(error as Error).message}`);
      throw error;
    }
  }
  return { result: { ...base, table }, infos: [info] };
}

/** A binding's filter conditions; one that cannot be read is the InvalidFilter refusal. */
function readBindingFilter(filter: string | undefined, limits: BindingFilterLimits): BindingFilterCondition[] {
  try {
    return parseBindingFilter(filter, limits);
  } catch (error) {
    if (error instanceof BindingFilterSyntaxError) throw new Refusal('InvalidFilter', error.message);
    throw error;
  }
}
