// Which tables the WAL consumer writes to the change log: subscribed tables and watched schemas.
import type { Queryable } from '../../queryable.js';
import type { CaptureEvent } from '../names.js';
import type { RelationColumn, TupleValue } from './pgoutput.js';

/** Tables of the realtime schema whose changes alter what is captured. */
export const REGISTRY_TABLES: ReadonlySet<string> = new Set(['subscriptions', 'schema_watches']);

/**
 * The captured tables: read once when the consumer starts, then kept up to date from the stream
 * itself (`apply`), so that a table registered by a transaction is captured from the next change in
 * WAL order on. (Reading the tables again at that commit could miss the row: the commit is decoded
 * before the writing backend's transaction is visible to other sessions.) Every event of a captured
 * table is logged, whatever events its subscription names (those choose its triggers' notifications):
 * joins of several servers may want different events.
 */
export class CaptureRegistry {
  private tables = new Map<string, string>();
  private tableOfSubscription = new Map<string, string>();
  private schemas = new Set<string>();

  async load(db: Queryable): Promise<void> {
    const [subscriptions, watches] = await Promise.all([
      db.query<{ id: string; schema_name: string; relation_name: string }>(
        'SELECT id, schema_name, relation_name FROM realtime.subscriptions WHERE schema_name IS NOT NULL AND relation_name IS NOT NULL',
      ),
      db.query<{ schema_name: string }>('SELECT schema_name FROM realtime.schema_watches'),
    ]);
    this.tables = new Map();
    this.tableOfSubscription = new Map();
    for (const row of subscriptions.rows) this.subscribe(row.id, row.schema_name, row.relation_name);
    this.schemas = new Set(watches.rows.map((row) => row.schema_name));
  }

  /** A change of one of the REGISTRY_TABLES, as the stream decoded it (`old` is the key or old row). */
  apply(table: string, columns: readonly RelationColumn[], operation: CaptureEvent, fresh: readonly TupleValue[] | null, old: readonly TupleValue[] | null): void {
    const value = (tuple: readonly TupleValue[] | null, name: string): string | null => {
      const found = tuple?.[columns.findIndex((column) => column.name === name)];
      return typeof found === 'string' ? found : null;
    };
    if (table === 'subscriptions') {
      if (operation === 'TRUNCATE') {
        this.tables.clear();
        this.tableOfSubscription.clear();
        return;
      }
      const id = value(fresh ?? old, 'id');
      if (id === null) return;
      this.unsubscribe(id);
      const schema = value(fresh, 'schema_name');
      const relation = value(fresh, 'relation_name');
      if (operation !== 'DELETE' && schema !== null && relation !== null) this.subscribe(id, schema, relation);
    } else if (table === 'schema_watches') {
      if (operation === 'TRUNCATE') return this.schemas.clear();
      const removed = value(old, 'schema_name');
      if (operation !== 'INSERT' && removed !== null) this.schemas.delete(removed);
      const added = value(fresh, 'schema_name');
      if (operation !== 'DELETE' && added !== null) this.schemas.add(added);
    }
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

  private subscribe(id: string, schema: string, relation: string): void {
    this.tables.set(key(schema, relation), id);
    this.tableOfSubscription.set(id, key(schema, relation));
  }

  private unsubscribe(id: string): void {
    const table = this.tableOfSubscription.get(id);
    if (table === undefined) return;
    this.tableOfSubscription.delete(id);
    if (this.tables.get(table) === id) this.tables.delete(table);
  }
}

function key(schema: string, table: string): string {
  return `${schema}\u0000${table}`;
}
