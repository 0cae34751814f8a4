// Runs a started server in the foreground until SIGINT or SIGTERM (or the signals given), then closes it gracefully.
import { LogCode } from './log-codes.js';
import type { RunningServer } from './server.js';

/** Resolves once the server has closed after one of `signals` (a failed close is logged, not thrown). */
export function runUntilSignal(server: RunningServer, signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      server.logger.info({ code: LogCode.serverShuttingDown, signal }, 'shutting down');
      for (const name of signals) process.off(name, stop);
      server.close().then(resolve, (error: unknown) => {
        server.logger.error({ code: LogCode.serverShutdownFailed, err: error }, 'shutdown failed');
        resolve();
      });
    };
    for (const name of signals) process.on(name, stop);
  });
}
