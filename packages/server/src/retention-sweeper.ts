// Trims channel logs and the table change log past their retention, on a timer, while the server runs.
import { trimChangeLog, trimChannelLogs, type Leadership, type Pool } from '@nself/db';
import type { Metrics } from './metrics.js';
import type { ServerConfig } from './config.js';
import type { Logger } from './logger.js';
import { LogCode } from './log-codes.js';

/** A running retention sweeper; `stop` ends it and waits for a pass in progress. */
export interface RetentionSweeper {
  /** Runs one pass now (the timer runs them every `retentionIntervalMs`). */
  sweep(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts trimming every `config.retentionIntervalMs`: messages older than their channel's retention
 * (`retention_hours` in its metadata, else `config.retentionHours`), and table changes older than
 * `config.retentionHours`. Only the process leading the sweeps trims. A failed pass is logged and the next one tries again.
 */
export function startRetentionSweeper(deps: {
  readonly config: Pick<ServerConfig, 'retentionHours' | 'retentionIntervalMs'>;
  readonly pool: Pool;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, 'sweeps'>;
  /** Whether this process runs the sweeps (one process per database does). */
  readonly sweepLeadership: Pick<Leadership, 'leading'>;
}): RetentionSweeper {
  let running: Promise<void> | undefined;
  const sweep = (): Promise<void> => {
    if (!deps.sweepLeadership.leading) return Promise.resolve();
    running ??= (async () => {
      deps.metrics.sweeps.inc({ kind: 'retention' });
      try {
        const hours = deps.config.retentionHours;
        const messages = await trimChannelLogs(deps.pool, hours);
        const changes = await trimChangeLog(deps.pool, hours);
        if (messages > 0 || changes > 0) deps.logger.info({ code: LogCode.retentionTrimmed, messages, changes, hours }, 'retention: deleted old messages and table changes');
      } catch (error) {
        deps.logger.error({ code: LogCode.retentionFailed, err: error }, 'retention sweep failed; the next one tries again');
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer = setInterval(() => void sweep(), deps.config.retentionIntervalMs);
  timer.unref();
  return {
    sweep,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
