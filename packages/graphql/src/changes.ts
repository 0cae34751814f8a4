// What live queries and streams need from the server's change capture: committed changes of some tables, in commit order.
import type { TableRef } from './compile.js';

/** One committed change, as the change log orders it. */
export interface CommittedChange {
  /** Place in the change log: dense and in commit order. */
  readonly position: number;
  readonly operation: string;
  readonly schema: string;
  readonly table: string;
  /** The row after the change (INSERT, UPDATE), else null. */
  readonly new: Record<string, unknown> | null;
  /** The row before the change (UPDATE, DELETE), else null: whole, or only its key columns (docs/capture.md, "What the log holds"). */
  readonly old: Record<string, unknown> | null;
}

/** The server's change feed, seen from GraphQL. */
export interface ChangeSource {
  /**
   * Sets up capture of `tables` where it is missing, then calls `onChanges` with every change to
   * them whose position is past the feed's position when the watch began, in position order.
   * Resolves with a function that ends the watch.
   */
  watch(tables: readonly TableRef[], onChanges: (changes: readonly CommittedChange[]) => void): Promise<() => void>;
  /** Resolves with the newest position once every change committed before the call is in the change log (numbered). */
  position(): Promise<number>;
}
