// A postgres_changes event's data with each change's `position` in the change log, where table changes resume.
import { isJsonObject } from '../message.js';
import type { RowEvent } from '../table-events.js';

/** A column of an event's `columns`: its name and `pg_type.typname`. */
export interface ChangeColumn {
  readonly name: string;
  readonly type: string;
}

/** The `data` of a postgres_changes event. */
export interface PostgresChangeData {
  readonly schema: string;
  readonly table: string;
  readonly commit_timestamp: string;
  readonly type: RowEvent;
  readonly columns: readonly ChangeColumn[];
  /** The row after the change (INSERT, UPDATE). */
  readonly record?: Record<string, unknown>;
  /** The row before the change (UPDATE, DELETE): its replica identity's columns. */
  readonly old_record?: Record<string, unknown>;
  /** Hosted Supabase's errors: a table without a primary key (Error 400), a change too large to send whole (Error 413). */
  readonly errors: string[] | null;
  /** Extension: the change's place in the change log, dense and growing in commit order across all tables. */
  readonly position: number;
}

/** The change-log position of a postgres_changes event (`{ids, data}`), when the server numbers changes. */
export function changePositionOf(event: unknown): number | undefined {
  const data = isJsonObject(event) ? event['data'] : undefined;
  const position = isJsonObject(data) ? data['position'] : undefined;
  return typeof position === 'number' ? position : undefined;
}
