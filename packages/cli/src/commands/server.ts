// `nself realtime start`: runs the realtime server (one process, or several workers on one port) in the foreground until SIGINT or SIGTERM.
import type { Command } from 'commander';
import { readFlag, readSetting } from '@nself/db/values';
import { withExamples } from '../args.js';

/** Registers `start`. */
export function registerServerCommands(realtime: Command): void {
  withExamples(
    realtime
      .command('start')
      .description('Run the realtime server (WebSocket and HTTP) on REALTIME_PORT (default 3100) until Ctrl+C')
      .option('-p, --port <port>', 'port to listen on (overrides REALTIME_PORT)')
      .option('--host <host>', 'address to bind (overrides REALTIME_HOST)')
      .option('-w, --workers <count>', 'server processes sharing the port, or auto for one per core (overrides REALTIME_WORKERS)'),
    ['nself realtime start', 'nself realtime start --port 4000', 'nself realtime start --workers auto', 'REALTIME_JWT_SECRET=... nself realtime start'],
  )
    .addHelpText(
      'after',
      [
        '',
        'Environment: DATABASE_URL (else an embedded PostgreSQL), REALTIME_PORT, REALTIME_HOST, REALTIME_WORKERS,',
        'REALTIME_JWT_SECRET, REALTIME_JWT_PUBLIC_KEY, REALTIME_JWKS_URL or HASURA_GRAPHQL_JWT_SECRET (without any:',
        'development mode, refused when NODE_ENV=production), REALTIME_LOG_FILE, REALTIME_LOG_LEVEL, REALTIME_LOG_FORMAT',
        '(auto, pretty or json) and the REALTIME_MAX_* limits.',
        '',
      ].join('\n'),
    )
    .action(async (options: { port?: string; host?: string; workers?: string }) => {
      // Loaded here, not with the command line: the server's modules take most of a command's start-up time.
      const { loadConfig, resolveWorkerCount, runUntilSignal, runWorkers, startServer } = await import('@nself/server');
      const config = loadConfig();
      const port = options.port === undefined ? config.port : readFlag('REALTIME_PORT', options.port);
      const host = options.host === undefined ? undefined : readFlag('REALTIME_HOST', options.host);
      const workers = resolveWorkerCount(options.workers === undefined ? readSetting(process.env, 'REALTIME_WORKERS') : readFlag('REALTIME_WORKERS', options.workers), process.env);
      if (workers.count === 1) {
        await runUntilSignal(await startServer({ port, workersChosenBy: workers.chosenBy, ...(host ? { host } : {}) }));
        return;
      }
      const server = await runWorkers({ count: workers.count, chosenBy: workers.chosenBy, port, ...(host ? { host } : {}) });
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
