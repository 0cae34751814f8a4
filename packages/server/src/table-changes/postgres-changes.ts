// The seam for `postgres_changes` bindings: a join's bindings are handed to an extension that delivers table changes.
import { bindingId, isJsonObject, type PostgresChangesBinding, type SystemPayload, type SystemPayloadExtras } from '@nself/protocol';
import type { Change, TableName } from '@nself/db';
import type { Identity } from '../auth/auth.js';
import type { SharedFrames } from '../shared-frames.js';
import { Refusal } from '../refusal.js';

/** A binding with the id echoed in the join reply and repeated in each event's `ids`. */
export interface IdentifiedBinding extends PostgresChangesBinding {
  readonly id: number;
}

/** What an extension gets for one joined channel. */
export interface PostgresChangesRequest {
  /** The channel name (topic without `realtime:`). */
  readonly subTopic: string;
  readonly bindings: readonly IdentifiedBinding[];
  readonly identity: Identity;
  /** Deliver every matching change after this log position first (a resume point, see ResumePoints). */
  readonly resumeAfter?: number;
  /**
   * Sends one change to the channel: `{ids, data}`, as Supabase sends a change. Channels handed the same
   * `frames` (one per change object delivered) share its encoded frame, so the object must not be
   * changed after it was pushed; without `frames` the channel encodes it on its own.
   */
  readonly push: (change: { ids: number[]; data: unknown }, frames?: SharedFrames) => void;
  /**
   * Sends a `system` message of the postgres_changes extension (e.g. "Subscribed to PostgreSQL" once
   * events flow, with the log `position` delivery starts after).
   */
  system(status: SystemPayload['status'], message: string, extra?: SystemPayloadExtras): void;
}

/** A live subscription of one joined channel. */
export interface PostgresChangesSubscription {
  /** The client sent a new access token: changes from now on are filtered with its claims. */
  updateIdentity(identity: Identity): Promise<void>;
  close(): Promise<void>;
}

/** Delivers table changes for `postgres_changes` bindings; the server calls it after the join reply. */
export interface PostgresChangesExtension {
  subscribe(request: PostgresChangesRequest): Promise<PostgresChangesSubscription>;
  /**
   * Captures `tables` where they are not yet, then hands `onChanges` every change of theirs past the
   * feed's position, in position order (GraphQL live queries and streams). Resolves with the function that stops it.
   */
  watchTables?(tables: readonly TableName[], onChanges: (changes: readonly Change[]) => void): Promise<() => void>;
  /** Resolves with the newest log position once every change committed before the call is in the log (on the WAL path, once the slot's consumer has logged it). */
  caughtUpPosition?(): Promise<number>;
  /** Stops delivering (server shutdown). */
  close?(): Promise<void>;
}

/**
 * Reads `config.postgres_changes` of a join: each entry needs `event` and `schema` strings, and may
 * have `table` and `filter` strings and a `select` array of column names.
 */
export function parseBindings(value: unknown): IdentifiedBinding[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Refusal('InvalidBinding', 'postgres_changes must be a list of {event, schema, table, filter} bindings');
  return value.map((entry, index) => {
    if (!isJsonObject(entry)) throw new Refusal('InvalidBinding', `postgres_changes[${index}] must be an object like {"event":"*","schema":"public","table":"todos"}`);
    const { event, schema, table, filter, select } = entry;
    if (typeof event !== 'string') throw new Refusal('InvalidBinding', `postgres_changes[${index}].event must be one of *, INSERT, UPDATE, DELETE`);
    if (typeof schema !== 'string') throw new Refusal('InvalidBinding', `postgres_changes[${index}].schema must be a schema name`);
    for (const [name, field] of [
      ['table', table],
      ['filter', filter],
    ] as const) {
      if (field !== undefined && field !== null && typeof field !== 'string') throw new Refusal('InvalidBinding', `postgres_changes[${index}].${name} must be a string`);
    }
    if (select !== undefined && (!Array.isArray(select) || !select.every((column) => typeof column === 'string'))) {
      throw new Refusal('InvalidBinding', `postgres_changes[${index}].select must be a list of column names`);
    }
    const binding: PostgresChangesBinding = {
      ...(entry as object),
      event,
      schema,
      ...(typeof table === 'string' ? { table } : {}),
      ...(typeof filter === 'string' ? { filter } : {}),
      ...(select ? { select } : {}),
    };
    return { ...binding, id: bindingId(binding) };
  });
}
