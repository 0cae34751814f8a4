// The one change feed of a server process, fanned out to every table change subscription, with catch-up for late joiners.
import { ChangeFeed, currentPosition, readChanges, type Change, type ChangeRow, type NotificationListener, type TableName } from '@nself/db';
import { deliverBatch, type DeliveryContext } from './delivery.js';
import { isTransient } from './transient.js';
import { tableKey } from './plan.js';
import type { TableSubscription } from './subscription.js';
import { catchUpThenGoLive } from '../log-tail.js';
import { LogCode } from '../log-codes.js';

const CATCH_UP_PAGE = 500;

/** A watcher of whole tables: the keys of its tables (`tableKey`) and where their changes go. */
interface TableWatcher {
  readonly tables: ReadonlySet<string>;
  readonly onChanges: (changes: readonly Change[]) => void;
}
const RETRY_MS = 500;

/**
 * Runs a single ChangeFeed (started with the first subscription) and hands each batch to the live
 * subscriptions. A subscription whose start lies behind the feed (a resume, or a join that raced a
 * batch) first reads its tables' changes from the log up to the feed's newest batch, then goes live
 * at once, in the same turn of the event loop: its cursor makes the seam free of gaps and duplicates.
 */
export class ChangeDispatcher {
  private feed: ChangeFeed | undefined;
  private starting: Promise<void> | undefined;
  /** The newest position of any batch handed to the live subscriptions so far. */
  private claimed = 0;
  private readonly live = new Set<TableSubscription>();
  /** Every subscription added and not removed, live or catching up. */
  private readonly subscribed = new Set<TableSubscription>();
  /** Watchers of whole tables (GraphQL live queries and streams): every change of their tables, no filters, no access checks. */
  private readonly watchers = new Set<TableWatcher>();

  constructor(private readonly ctx: DeliveryContext & { readonly databaseUrl: string; readonly listener?: NotificationListener | undefined; readonly changesAtCommit: boolean }) {}

  /** Starts the feed if it is not running yet. */
  start(): Promise<void> {
    this.starting ??= (async () => {
      const from = await currentPosition(this.ctx.pool);
      this.claimed = from;
      this.feed = await ChangeFeed.start({
        pool: this.ctx.pool,
        connectionString: this.ctx.databaseUrl,
        ...(this.ctx.listener ? { listener: this.ctx.listener } : {}),
        from,
        announcements: this.ctx.changesAtCommit,
        onChanges: (changes) => this.dispatch(changes),
        onError: (error) => this.ctx.logger.warn({ code: LogCode.tableFeedInterrupted, err: error }, 'table change feed interrupted; it reconnects and re-reads from its position'),
      });
      if (this.subscribed.size === 0 && this.watchers.size === 0) this.feed.askForAnnouncements(false);
    })().catch((error: unknown) => {
      this.starting = undefined;
      throw error;
    });
    return this.starting;
  }

  /**
   * Adds a subscription: catches it up from its cursor, then makes it live. Runs in the background;
   * `onFailure` is told if catching up fails for a reason other than a lost connection (those are retried).
   */
  add(subscription: TableSubscription, onFailure: (error: Error) => void): void {
    this.subscribed.add(subscription);
    this.feed?.askForAnnouncements(true);
    void this.catchUp(subscription).catch((error: unknown) => {
      if (subscription.closed) return;
      this.ctx.logger.error({ code: LogCode.tableCatchUpFailed, err: error }, 'catching up a table change subscription failed');
      onFailure(error instanceof Error ? error : new Error(String(error)));
    });
  }

  /** Changes this process's WAL consumer just logged: delivered at once when they continue the feed (`ChangeFeed.offer`). */
  offer(rows: readonly ChangeRow[]): void {
    this.feed
      ?.offer(rows)
      .catch((error: unknown) => this.ctx.logger.warn({ code: LogCode.tableOfferFailed, err: error }, 'delivering logged table changes failed; the feed reads them from the log'));
  }

  /** Makes the feed listen on tables whose capture was just set up, so their first changes are not left to polling. */
  refresh(): void {
    this.feed?.refresh();
  }

  /** Stops delivering to a subscription; with none left, the feed stops asking writers for announcements. */
  remove(subscription: TableSubscription): void {
    subscription.closed = true;
    this.live.delete(subscription);
    this.subscribed.delete(subscription);
    if (this.subscribed.size === 0 && this.watchers.size === 0) this.feed?.askForAnnouncements(false);
  }

  /**
   * Hands `onChanges` every change of `tables` in each batch the feed delivers from now on (positions
   * past the newest batch already delivered), in position order. Returns the function that stops it.
   */
  watch(tables: readonly TableName[], onChanges: (changes: readonly Change[]) => void): () => void {
    const watcher: TableWatcher = { tables: new Set(tables.map((table) => tableKey(table.schema, table.table))), onChanges };
    this.watchers.add(watcher);
    this.feed?.askForAnnouncements(true);
    return () => {
      this.watchers.delete(watcher);
      if (this.subscribed.size === 0 && this.watchers.size === 0) this.feed?.askForAnnouncements(false);
    };
  }

  /** Stops the feed. */
  async stop(): Promise<void> {
    for (const subscription of this.live) subscription.closed = true;
    this.live.clear();
    await this.starting?.catch(() => undefined);
    await this.feed?.stop();
  }

  private async dispatch(changes: readonly Change[]): Promise<void> {
    const last = changes.at(-1)?.position ?? this.claimed;
    this.claimed = Math.max(this.claimed, last);
    for (const watcher of [...this.watchers]) {
      const theirs = changes.filter((change) => watcher.tables.has(tableKey(change.schema, change.table)));
      if (theirs.length === 0) continue;
      try {
        watcher.onChanges(theirs);
      } catch (error) {
        this.ctx.logger.error({ code: LogCode.tableWatcherFailed, err: error }, 'a table watcher failed on a batch of changes');
      }
    }
    const subscriptions = [...this.live];
    await deliverBatch(this.ctx, changes, subscriptions, last);
  }

  private async catchUp(subscription: TableSubscription): Promise<void> {
    await this.start();
    await catchUpThenGoLive({
      get cursor() {
        return subscription.cursor;
      },
      liveThrough: () => this.claimed,
      readPage: async (target) => {
        if (subscription.closed) return 'stopped';
        try {
          const page = await readChanges(this.ctx.pool, { after: subscription.cursor, tables: subscription.tables, limit: CATCH_UP_PAGE });
          const within = page.filter((change) => change.position <= target);
          const lastRead = page.at(-1)?.position;
          const upTo = page.length === CATCH_UP_PAGE && lastRead !== undefined && lastRead <= target ? lastRead : target;
          await deliverBatch(this.ctx, within, [subscription], upTo);
        } catch (error) {
          if (!isTransient(error)) throw error;
          this.ctx.logger.warn({ code: LogCode.tableCatchUpRetry, err: error }, 'catching up a table change subscription: database unreachable, retrying');
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        }
        return 'read';
      },
      goLive: () => {
        if (!subscription.closed) this.live.add(subscription);
      },
    });
  }
}
