// One joined channel's table change subscription: its bindings, its audience, and how far it has been delivered.
import type { Change, TableName } from '@nself/db';
import { ALL_ROW_EVENTS } from '@nself/protocol';
import type { Audience } from './audience.js';
import { filterWeight } from './filter-weight.js';
import type { ResolvedBinding } from './plan.js';
import type { SharedFrames } from '../shared-frames.js';

/** An event frame's payload: the matching binding ids and the change data. */
export interface ChangeEvent {
  readonly ids: number[];
  readonly data: unknown;
}

/** A channel's bindings with the state the dispatcher keeps for it. */
export class TableSubscription {
  /** Position of the last change delivered or passed over: only later ones are sent. */
  cursor: number;
  closed = false;
  /** How many filter values its bindings hold in all: the work its filters take per change. */
  readonly filterWeight: number;

  constructor(
    readonly bindings: readonly ResolvedBinding[],
    public audience: Audience,
    /** The tables resolved at join, read directly when catching up. */
    readonly tables: readonly TableName[],
    start: number,
    /** Sends an event; subscriptions handed the same event get the same `frames`, so its frame is encoded once per variant. */
    private readonly send: (event: ChangeEvent, frames: SharedFrames) => void,
    /** Tells the subscriber about trouble delivering to it (a `system` error). */
    readonly report: (message: string) => void,
  ) {
    this.cursor = start;
    this.filterWeight = bindings.reduce((sum, binding) => sum + filterWeight(binding.conditions), 0);
  }

  /** True when some binding may match changes of this table (before filters). */
  watches(schema: string, table: string): boolean {
    return this.bindings.some((binding) => binding.schema === schema && (binding.table === null || binding.table === table));
  }

  /** The bindings that match `change`, given whether each binding's filter passes. */
  matching(change: Change, filterPasses: (binding: ResolvedBinding) => boolean): ResolvedBinding[] {
    return this.bindings.filter(
      (binding) =>
        binding.schema === change.schema &&
        (binding.table === null || binding.table === change.table) &&
        (binding.event === ALL_ROW_EVENTS || binding.event === change.operation) &&
        filterPasses(binding),
    );
  }

  /** Sends one change, unless the subscription was closed meanwhile. */
  deliver(position: number, event: ChangeEvent, frames: SharedFrames): void {
    if (this.closed || position <= this.cursor) return;
    this.cursor = position;
    this.send(event, frames);
  }
}
