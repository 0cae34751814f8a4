// A channel's listeners: broadcast events by name, presence join/leave/sync, table changes and system messages.
import { BindingFilterSyntaxError, bindingEventOf, MESSAGE_DELETED_EVENT, parseBindingFilter, type MessageDeleted, type SystemPayload } from '@nself/protocol';
import { RealtimeError } from './errors.js';
import type { PresenceChange } from './presence.js';
import { changeMatches, toTableChange, type TableBinding, type TableChange } from './table-changes.js';

/** A broadcast as listeners receive it (the Supabase envelope, plus its place in the channel's log). */
export interface BroadcastMessage<T = unknown> {
  readonly type: 'broadcast';
  readonly event: string;
  readonly payload: T;
  /** The server's metadata: `id`, `offset`, `replayed`. */
  readonly meta: Record<string, unknown>;
  /** The message's offset in the channel's log, when the server numbers messages. */
  readonly offset: number | undefined;
  /** The stored message's id, when the server has one. */
  readonly id: string | undefined;
  /** True when the message was sent again after a reconnect (it was missed while offline). */
  readonly replayed: boolean;
}

/** Called with a broadcast's payload, and the whole message. */
export type BroadcastCallback<T> = (payload: T, message: BroadcastMessage<T>) => void;
/** Called with a table change. */
export type TableCallback<TRow> = (change: TableChange<TRow>) => void;
/** Called on a presence join or leave. */
export type PresenceCallback<TState> = (change: PresenceChange<TState>) => void;
/** Called with a `system` message (for example a ResumeUnavailable notice). */
export type SystemCallback = (payload: SystemPayload) => void;
/** Called when a moderator deleted a message of the channel: its id and offset. */
export type DeletionCallback = (deleted: MessageDeleted) => void;

type AnyCallback = (...args: never[]) => void;

/** Every listener of one channel, and dispatch to the ones a message concerns. */
export class ChannelListeners {
  private readonly broadcasts: Array<{ event: string; callback: AnyCallback; envelope: boolean }> = [];
  private readonly presences: Array<{ event: 'join' | 'leave' | 'sync'; callback: AnyCallback }> = [];
  private readonly tables: Array<{ binding: TableBinding; callback: AnyCallback }> = [];
  private readonly systems: SystemCallback[] = [];
  private readonly deletions: DeletionCallback[] = [];
  private bindingIds: unknown[] = [];

  /**
   * Adds the listener an `on(event, [filter,] callback)` call describes: presence, system, Supabase-style
   * broadcast or postgres_changes, a table event on the channel of `table`, or else a broadcast event.
   * Throws a RealtimeError saying what is expected when the arguments do not fit.
   */
  register(event: string, filterOrCallback: unknown, maybeCallback: unknown, table: { schema: string; table: string } | undefined): void {
    const callback = (typeof filterOrCallback === 'function' ? filterOrCallback : maybeCallback) as AnyCallback;
    const filter = (typeof filterOrCallback === 'function' ? {} : (filterOrCallback ?? {})) as Record<string, unknown>;
    if (typeof event !== 'string' || event === '' || typeof callback !== 'function') {
      throw new RealtimeError('INVALID_ARGUMENT', 'on(event, callback) needs an event name and a function, such as on("message.sent", (payload) => …)');
    }
    const tableEvent = bindingEventOf(event);
    if (event === 'presence') {
      const presenceEvent = filter['event'];
      if (presenceEvent !== 'join' && presenceEvent !== 'leave' && presenceEvent !== 'sync') {
        throw new RealtimeError('INVALID_ARGUMENT', `presence listeners need { event: 'join' | 'leave' | 'sync' }, got ${JSON.stringify(presenceEvent)}`);
      }
      this.presences.push({ event: presenceEvent, callback });
    } else if (event === 'system') {
      this.systems.push(callback as SystemCallback);
    } else if (event === MESSAGE_DELETED_EVENT) {
      this.deletions.push(callback as DeletionCallback);
    } else if (event === 'broadcast' && typeof filter['event'] === 'string') {
      this.broadcasts.push({ event: filter['event'].toLowerCase(), callback, envelope: true });
    } else if (event === 'postgres_changes') {
      this.tables.push({ binding: tableBinding(filter), callback });
    } else if (table && tableEvent) {
      this.tables.push({ binding: { event: tableEvent, ...table }, callback });
    } else {
      this.broadcasts.push({ event: event.toLowerCase(), callback, envelope: false });
    }
  }

  get hasPresence(): boolean {
    return this.presences.length > 0;
  }

  /** The distinct table bindings, in the order they were first added: the join's `config.postgres_changes`. */
  tableBindings(): TableBinding[] {
    const seen = new Map<string, TableBinding>();
    for (const { binding } of this.tables) seen.set(JSON.stringify(binding), seen.get(JSON.stringify(binding)) ?? binding);
    return [...seen.values()];
  }

  /** Records the ids the join reply gave the bindings, in `tableBindings()` order. */
  setBindingIds(ids: unknown[]): void {
    this.bindingIds = ids;
  }

  dispatchBroadcast(message: BroadcastMessage): void {
    const event = message.event.toLowerCase();
    for (const listener of this.broadcasts) {
      if (listener.event !== '*' && listener.event !== event) continue;
      if (listener.envelope) (listener.callback as (message: BroadcastMessage) => void)(message);
      else (listener.callback as BroadcastCallback<unknown>)(message.payload, message);
    }
  }

  dispatchPresence(change: PresenceChange | undefined): void {
    const event = change?.event ?? 'sync';
    for (const listener of this.presences) {
      if (listener.event === event) (listener.callback as (change?: PresenceChange) => void)(change);
    }
  }

  dispatchTable(frame: { ids?: unknown[]; data?: Record<string, unknown> }): void {
    const bindings = this.tableBindings().map((binding) => JSON.stringify(binding));
    let change: TableChange | undefined;
    for (const { binding, callback } of this.tables) {
      const id = this.bindingIds[bindings.indexOf(JSON.stringify(binding))];
      if (!changeMatches(binding, id, frame)) continue;
      change ??= toTableChange(frame.data ?? {});
      (callback as TableCallback<unknown>)(change);
    }
  }

  dispatchSystem(payload: SystemPayload): void {
    for (const callback of this.systems) callback(payload);
  }

  dispatchDeletion(deleted: MessageDeleted): void {
    for (const callback of this.deletions) callback(deleted);
  }
}

/** A validated `postgres_changes` filter; its `filter` is checked against the binding filter grammar the server reads. */
function tableBinding(filter: Record<string, unknown>): TableBinding {
  const event = bindingEventOf(String(filter['event'] ?? '*'));
  if (event === undefined || typeof filter['schema'] !== 'string') {
    throw new RealtimeError('INVALID_ARGUMENT', 'postgres_changes listeners need { event: INSERT | UPDATE | DELETE | *, schema, table?, filter? }');
  }
  if (typeof filter['filter'] === 'string') {
    try {
      parseBindingFilter(filter['filter']);
    } catch (error) {
      if (error instanceof BindingFilterSyntaxError) throw new RealtimeError('INVALID_ARGUMENT', `postgres_changes listener: ${error.message}`);
      throw error;
    }
  }
  return {
    event,
    schema: filter['schema'],
    ...(typeof filter['table'] === 'string' ? { table: filter['table'] } : {}),
    ...(typeof filter['filter'] === 'string' ? { filter: filter['filter'] } : {}),
  };
}
