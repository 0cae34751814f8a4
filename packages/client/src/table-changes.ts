// Table changes (postgres_changes): channel names like `realtime:table:public.users`, bindings, and the change objects callbacks get.
import { ALL_ROW_EVENTS, type BindingEvent, type ChangeColumn, type PostgresChangeData, type RowEvent } from '@nself/protocol';

/** The events a table change listener can ask for: INSERT, UPDATE, DELETE, or `*` for all of them. */
export type TableEvent = BindingEvent;

/** A table change binding as sent in the join's `config.postgres_changes`. */
export interface TableBinding {
  readonly event: TableEvent;
  readonly schema: string;
  readonly table?: string;
  readonly filter?: string;
}

/** What a table change callback receives. */
export interface TableChange<TRow = Record<string, unknown>> {
  /** `INSERT`, `UPDATE` or `DELETE`. */
  readonly eventType: RowEvent;
  /** Same as `eventType`, under the name of the seed's message format. */
  readonly operation: RowEvent;
  readonly schema: string;
  readonly table: string;
  /** Commit time, ISO 8601. */
  readonly commit_timestamp: string;
  /** Commit time in UNIX seconds. */
  readonly timestamp: number;
  /** The row after the change (INSERT, UPDATE), else `{}`. */
  readonly new: TRow;
  /** The row before the change (UPDATE, DELETE; only its key columns unless the table has REPLICA IDENTITY FULL), else `{}`. */
  readonly old: Partial<TRow>;
  readonly errors: string[] | null;
  /** The change's position in the server's change log, when the server numbers changes. */
  readonly position: number | undefined;
}

const TABLE_CHANNEL = /^realtime:table:([^.]+)\.(.+)$/;

/** The table a channel name designates (`realtime:table:public.users` → public, users), or undefined. */
export function tableOfChannel(name: string): { schema: string; table: string } | undefined {
  const match = TABLE_CHANNEL.exec(name);
  return match ? { schema: match[1]!, table: match[2]! } : undefined;
}

/** An event's `data` as received: any field may be missing. */
type RawChange = Partial<PostgresChangeData>;

/** True when a change event frame (`{ids, data}`) is for `binding`, whose join reply id is `id` (if the server gave one). */
export function changeMatches(binding: TableBinding, id: unknown, frame: { ids?: unknown[]; data?: RawChange }): boolean {
  const data = frame.data ?? {};
  const type = String(data.type ?? '').toUpperCase();
  if (binding.event !== ALL_ROW_EVENTS && binding.event !== type) return false;
  if (id !== undefined && Array.isArray(frame.ids)) return frame.ids.includes(id);
  return data.schema === binding.schema && (binding.table === undefined || binding.table === '*' || data.table === binding.table);
}

/** The change object of an event frame's `data`, with values converted by column type. */
export function toTableChange<TRow>(data: RawChange): TableChange<TRow> {
  const type = String(data.type ?? '').toUpperCase() as RowEvent;
  const columns = data.columns ?? [];
  const commit = data.commit_timestamp ?? new Date().toISOString();
  return {
    eventType: type,
    operation: type,
    schema: data.schema ?? '',
    table: data.table ?? '',
    commit_timestamp: commit,
    timestamp: Math.floor(Date.parse(commit) / 1000),
    new: (type === 'DELETE' ? {} : convertRow(data.record ?? {}, columns)) as TRow,
    old: (type === 'INSERT' ? {} : convertRow(data.old_record ?? {}, columns)) as Partial<TRow>,
    errors: data.errors ?? null,
    position: typeof data.position === 'number' ? data.position : undefined,
  };
}

const NUMBER_TYPES = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'oid']);

/** Converts values that arrive as text (PostgreSQL's output format) to JSON values, by column type. */
function convertRow(row: Record<string, unknown>, columns: readonly ChangeColumn[]): Record<string, unknown> {
  const types = new Map(columns.map((column) => [column.name, column.type]));
  return Object.fromEntries(Object.entries(row).map(([name, value]) => [name, convertValue(value, types.get(name))]));
}

function convertValue(value: unknown, type: string | undefined): unknown {
  if (typeof value !== 'string' || type === undefined) return value;
  if (type === 'bool') return value === 't' || value === 'true';
  if (NUMBER_TYPES.has(type)) {
    const number = Number(value);
    return Number.isNaN(number) ? value : number;
  }
  if (type === 'json' || type === 'jsonb') {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  if (type === 'timestamp' || type === 'timestamptz') return value.replace(' ', 'T');
  return value;
}
