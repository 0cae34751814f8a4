// The descriptions of captured tables the server delivers changes of, each read from the catalog at most every few seconds.
import { describeTable, type Queryable, type TableDescription, type TableName } from '@nself/db';

const FRESH_FOR_MS = 5_000;

/** Reads table descriptions (`describeTable` of @nself/db), keeping each for a few seconds (DDL shows up within that time). */
export class TableCatalog {
  private readonly known = new Map<string, { description: TableDescription; readAt: number }>();

  constructor(private readonly db: Queryable) {}

  /** The table's description, or undefined when it does not exist (any more). */
  async describe(table: TableName): Promise<TableDescription | undefined> {
    const key = `${table.schema}\u0000${table.table}`;
    const cached = this.known.get(key);
    if (cached && Date.now() - cached.readAt < FRESH_FOR_MS) return cached.description;
    const description = await describeTable(this.db, table);
    // Only tables that exist are kept: names a client makes up are not remembered one by one.
    if (description) this.known.set(key, { description, readAt: Date.now() });
    else this.known.delete(key);
    return description;
  }

  /** Forgets a table so that the next `describe` reads it again. */
  forget(table: TableName): void {
    this.known.delete(`${table.schema}\u0000${table.table}`);
  }
}
