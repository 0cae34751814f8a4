// The postgres_changes extension of the server: checks a join's bindings, sets up capture, and subscribes the channel.
import { SystemMessage } from '@nself/protocol';
import { CAPTURE_EVENTS, caughtUp, UserError, WalConsumer, type Change, type NotificationListener, type Pool, type TableName, type WalTrouble } from '@nself/db';
import type { Identity } from '../auth/auth.js';
import type { Limits } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { PostgresChangesExtension, PostgresChangesRequest, PostgresChangesSubscription } from './postgres-changes.js';
import { AccessChecker } from './access.js';
import { audienceOf, type Audience } from './audience.js';
import { CaptureSetup, type CaptureNeed, type CapturePathName } from './capture-setup.js';
import { TableCatalog } from './catalog.js';
import { ChangeDispatcher } from './dispatcher.js';
import { isRefusal } from '../refusal.js';
import { planSubscription, subscriptionRefusal, type PlanContext } from './plan.js';
import { startPoint } from './resume.js';
import { TableSubscription } from './subscription.js';
import { LogCode } from '../log-codes.js';

/** The log code of each WAL trouble an operator must hear about. */
const WAL_TROUBLE_CODES: Record<Exclude<WalTrouble, 'interrupted'>, LogCode> = {
  slot_lost: LogCode.walSlotLost,
  slot_dropped: LogCode.walSlotDropped,
  gap: LogCode.walGap,
};

/** What the extension needs from the server. */
export interface TableChangesOptions {
  readonly pool: Pool;
  readonly logger: Logger;
  readonly databaseUrl: string;
  /** The process's LISTEN connection, which the change feed shares. */
  readonly listener?: NotificationListener;
  /** No JWT secret is configured: clients without a token act as the anonymous role, or see every change without one (see `audienceOf`). */
  readonly developmentMode: boolean;
  /** The role clients without a token act as in development mode, when the database has it (REALTIME_ANONYMOUS_ROLE); null for none. */
  readonly anonymousRole: string | null;
  /** Notify-mode writers position and announce their changes at commit (REALTIME_CHANGES_AT_COMMIT; trigger path only). */
  readonly changesAtCommit: boolean;
  /** The capture path the server runs (`setUpCapturePath` at start): on the WAL path this process also competes to consume the slot. */
  readonly capturePath: CapturePathName;
  /** Bounds on bindings and filters, and the time judging filters may take. */
  readonly limits: Pick<Limits, 'maxFilterValues' | 'maxFilterLength' | 'maxBindingsPerJoin' | 'filterBudgetMs'>;
  readonly metrics?: Metrics;
}

/** The extension, with `close` to stop its change feed when the server stops. */
export interface TableChanges extends PostgresChangesExtension {
  close(): Promise<void>;
}

const INACTIVE: PostgresChangesSubscription = { updateIdentity: async () => undefined, close: async () => undefined };

/** Creates the extension that delivers table changes to `postgres_changes` bindings. */
export function createTableChanges(options: TableChangesOptions): TableChanges {
  const catalog = new TableCatalog(options.pool);
  const access = new AccessChecker(options.pool);
  const plans: PlanContext = { pool: options.pool, catalog, access, limits: options.limits };
  const capture = new CaptureSetup(options.pool, options.capturePath);
  const wal = options.capturePath === 'wal';
  const dispatcher = new ChangeDispatcher({
    ...plans,
    logger: options.logger,
    metrics: options.metrics,
    databaseUrl: options.databaseUrl,
    listener: options.listener,
    changesAtCommit: options.changesAtCommit && !wal,
    filterBudgetMs: options.limits.filterBudgetMs,
  });
  const consumer = wal
    ? new WalConsumer({
        pool: options.pool,
        connection: { connectionString: options.databaseUrl },
        onLeading: (leading) => {
          options.metrics?.walConsumerLeading.set(leading ? 1 : 0);
          if (leading) options.logger.info({ code: LogCode.walLeading }, 'this process reads table changes from the write-ahead log');
          else options.logger.info({ code: LogCode.walStoppedLeading }, 'this process stopped reading the write-ahead log');
        },
        onError: (error, trouble) => {
          if (trouble === 'interrupted') options.logger.warn({ code: LogCode.walInterrupted, err: error }, 'reading the write-ahead log was interrupted; retrying');
          else options.logger.error({ code: WAL_TROUBLE_CODES[trouble], err: error }, error.message);
        },
        onLogged: (rows) => dispatcher.offer(rows),
      })
    : undefined;
  const { anonymousRole } = options;
  /** The audience of `identity`; in development mode, looks up whether the database has the anonymous role. */
  const audienceFor = async (identity: Identity): Promise<Audience> => {
    if (!options.developmentMode || anonymousRole === null) return audienceOf(identity, options.developmentMode, null);
    const { rowCount } = await options.pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [anonymousRole]);
    return audienceOf(identity, true, rowCount ? anonymousRole : null);
  };

  return {
    async subscribe(request: PostgresChangesRequest): Promise<PostgresChangesSubscription> {
      const audience = await audienceFor(request.identity);
      let plan;
      let captureAdded;
      try {
        plan = await planSubscription(plans, request.bindings, audience);
        const schemas = [...new Set(plan.bindings.filter((binding) => binding.table === null).map((binding) => binding.schema))];
        captureAdded = await capture.ensure(plan.tables.values(), schemas).catch((error: unknown) => {
          throw error instanceof UserError ? subscriptionRefusal(error.message) : error;
        });
      } catch (error) {
        if (!isRefusal(error, 'SubscriptionRefused')) throw error;
        request.system('error', error.message);
        return INACTIVE;
      }
      await dispatcher.start();
      if (captureAdded) dispatcher.refresh();
      const start = await startPoint(options.pool, request.resumeAfter);
      const tables = [...plan.tables.values()].map(({ info }) => ({ schema: info.schema, table: info.table }));
      const subscription = new TableSubscription(plan.bindings, audience, tables, start.position, request.push, (message) => request.system('error', message));
      request.system('ok', SystemMessage.subscribedToPostgres, { position: start.position });
      if (start.notice) request.system('error', start.notice);
      dispatcher.add(subscription, (error) => request.system('error', `Unable to deliver table changes: ${error.message}`));
      return {
        async updateIdentity(identity: Identity): Promise<void> {
          const renewed = await audienceFor(identity);
          try {
            await planSubscription(plans, request.bindings, renewed);
            subscription.audience = renewed;
          } catch (error) {
            if (!isRefusal(error, 'SubscriptionRefused')) throw error;
            dispatcher.remove(subscription);
            request.system('error', error.message);
          }
        },
        async close(): Promise<void> {
          dispatcher.remove(subscription);
        },
      };
    },
    async watchTables(tables: readonly TableName[], onChanges: (changes: readonly Change[]) => void): Promise<() => void> {
      const needs: CaptureNeed[] = [];
      for (const table of tables) {
        const info = await catalog.describe(table);
        if (!info) throw new UserError(`${table.schema}.${table.table} is not a table whose changes can be captured`);
        needs.push({ info, events: new Set(CAPTURE_EVENTS) });
      }
      const captureAdded = await capture.ensure(needs);
      await dispatcher.start();
      if (captureAdded) dispatcher.refresh();
      return dispatcher.watch(tables, onChanges);
    },
    caughtUpPosition(): Promise<number> {
      return caughtUp(options.pool);
    },
    async close(): Promise<void> {
      await dispatcher.stop();
      await consumer?.stop();
    },
  };
}
