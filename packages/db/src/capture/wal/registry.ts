// Which tables the WAL consumer writes to the change log: subscribed tables and watched schemas.
import type { Queryable } from '../../queryable.js';
/** Tables of the realtime schema whose changes alter what is captured. */
export const REGISTRY_TABLES: ReadonlySet<string> = new Set(['subscriptions', 'schema_watches']);

/**
 * The captured tables as of the last `load`; the consumer reloads it when a registry table changes in
 * the stream. Every event of a captured table is logged, whatever events its subscription names
 * (those choose its triggers' notifications): joins of several servers may want different events.
 */
export class CaptureRegistry {
  private tables = new Map<string, string>();
  private schemas = new Set<string>();

  async load(db: Queryable): Promise<void> {
    const [subscriptions, watches] = await Promise.all([
      db.query<{ id: string; schema_name: string; relation_name: string }>(
        'SELECT id, schema_name, relation_name FROM realtime.subscriptions WHERE schema_name IS NOT NULL AND relation_name IS NOT NULL'),
      db.query<{ schema_name: string }>('SELECT schema_name FROM realtime.schema_watches'),
    ]);
    this.tables = new Map(subscriptions.rows.map((row) => [key(row.schema_name, row.relation_name), row.id]));
    this.schemas = new Set(watches.rows.map((row) => row.schema_name));
  }

  /**
   * Whether changes of schema.table are captured, and under which subscription (null for a table
   * captured only as part of a watched schema); undefined when they are not.
   */
  capture(schema: string, table: string): { subscriptionId: string | null } | undefined {
    if (schema === 'realtime') return undefined;
    const subscriptionId = this.tables.get(key(schema, table));
    if (subscriptionId !== undefined) return { subscriptionId };
    return this.schemas.has(schema) ? { subscriptionId: null } : undefined;
  }
}

function key(schema: string, table: string): string {
  return `${schema}\u0000${table}`;
}
