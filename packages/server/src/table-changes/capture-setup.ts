// Makes sure the tables a join watches are captured, with at least the events it needs, as `nself realtime subscribe` would.
import { findSubscription, subscribe, UserError, watchForWal, type CaptureEvent, type Pool, type SubscriptionInfo, type TableDescription } from '@nself/db';
import { isSystemSchema } from './plan.js';

/** A table and the events a subscription needs from it. */
export interface CaptureNeed {
  readonly info: TableDescription;
  readonly events: ReadonlySet<CaptureEvent>;
}

const SETUP_LOCK = 'nself_realtime_server_capture_setup';

/** Which path captures table changes: the WAL (a registration per table or schema) or triggers. */
export type CapturePathName = 'wal' | 'trigger';

/**
 * Sets up capture where it is missing: a table not yet subscribed gets the needed events; a
 * subscribed one keeps its events, filter, capture mode and notified rows, and gains the events it
 * lacks; a table subscribed here sends no rows in NOTIFY, only positions. The
 * subscriptions are ordinary ones, so `nself realtime subscriptions` lists them and `unsubscribe`
 * removes them. Server processes take turns (an advisory lock), so concurrent joins never drop each
 * other's events; within a process, calls are queued so that at most one pool connection waits.
 * Capture is never set up in PostgreSQL's own schemas (`information_schema`, `pg_*`).
 */
export class CaptureSetup {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly pool: Pool,
    private readonly path: CapturePathName,
  ) {}

  /**
   * Resolves once every table in `needs` (and, on the WAL path, every table to come in `schemas`) is
   * captured with its events, with true when some capture had to be set up; throws a UserError when
   * a table cannot be captured. On the WAL path this only records what to capture, in the realtime
   * schema: no trigger, no DDL in the application's schemas.
   */
  async ensure(needs: Iterable<CaptureNeed>, schemas: readonly string[] = []): Promise<boolean> {
    if (this.path === 'wal') {
      const tables = [...needs].map(({ info }) => ({ schema: info.schema, table: info.table }));
      const system = [...tables.map((t) => t.schema), ...schemas].find(isSystemSchema);
      if (system) throw new UserError(`the server never sets up capture in PostgreSQL's own schema ${system}: its tables are not published for logical decoding`);
      return watchForWal(this.pool, tables, schemas);
    }
    const missing: CaptureNeed[] = [];
    for (const need of needs) if (!covers(await findSubscription(this.pool, need.info), need.events)) missing.push(need);
    const system = missing.find((need) => isSystemSchema(need.info.schema));
    if (system) {
      const name = `${system.info.schema}.${system.info.table}`;
      throw new UserError(
        `the server never sets up capture in PostgreSQL's own schema ${system.info.schema}; ${name} is not captured with the events asked for (an operator may run \`nself realtime subscribe ${name}\`)`,
      );
    }
    if (missing.length === 0) return false;
    const run = this.queue.then(() => this.install(missing));
    this.queue = run.catch(() => undefined);
    await run;
    return true;
  }

  private async install(needs: readonly CaptureNeed[]): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock(hashtext($1))', [SETUP_LOCK]);
      for (const need of needs) {
        const existing = await findSubscription(this.pool, need.info);
        if (covers(existing, need.events)) continue;
        const events = new Set<CaptureEvent>([...(existing?.events ?? []), ...need.events]);
        try {
          await subscribe(this.pool, {
            table: need.info,
            events: [...events],
            filter: existing?.filter ?? null,
            // A table the server captures for its joins never sends rows in NOTIFY; one an operator subscribed keeps doing so.
            // A table registered for the WAL path (before the database lost logical decoding) gets triggers.
            ...(existing && existing.capture !== 'wal' ? { capture: existing.capture, notifyRows: existing.notifyRows } : {}),
          });
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (code === '42501') {
            throw new UserError(
              `the server cannot capture ${need.info.schema}.${need.info.table} (${(error as Error).message}); run \`nself realtime subscribe ${need.info.schema}.${need.info.table}\` as its owner`,
            );
          }
          throw error;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [SETUP_LOCK]).catch(() => undefined);
      client.release();
    }
  }
}

function covers(existing: SubscriptionInfo | undefined, events: ReadonlySet<CaptureEvent>): boolean {
  return existing !== undefined && existing.capture !== 'wal' && existing.state === 'active' && [...events].every((event) => existing.events.includes(event));
}
