// Runs a server as several worker processes on one port (node's cluster): starts them, replaces one that dies,
// gathers their metrics, and drains them all on shutdown.
import cluster, { type Worker } from 'node:cluster';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { releaseEmbeddedPostgres, resolveDatabaseUrl, UserError } from '@nself/db';
import { loadConfig } from '../config.js';
import { createLogger, WORKER_INDEX_VARIABLE, type Logger } from '../logger.js';
import { LogCode } from '../log-codes.js';
import { serveMetrics } from '../cluster-metrics.js';

/** Options of `runWorkers`. */
export interface WorkersOptions {
  readonly count: number;
  /** The words of the start line saying how the count was chosen. */
  readonly chosenBy: string;
  readonly port: number;
  readonly host?: string;
  /** Environment the workers start from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** A running server of several workers. */
export interface RunningWorkers {
  readonly port: number;
  readonly logger: Logger;
  /** Sends SIGTERM to every worker and waits until all have drained and exited. */
  close(): Promise<void>;
}

/** A worker that dies sooner than this after it started is replaced only after REPLACE_DELAY_MS, so that a crash loop does not spin. */
const QUICK_DEATH_MS = 5_000;
const REPLACE_DELAY_MS = 1_000;
/** How long a worker may take to drain after SIGTERM before it is killed. */
const DRAIN_TIMEOUT_MS = 15_000;

const WORKER_MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker-main.js');

/**
 * Starts `count` workers, each a full server on the same port and database (the embedded PostgreSQL,
 * when no DATABASE_URL is set, is started once, here). Resolves once all listen; rejects when one
 * cannot start, after stopping the others.
 */
export async function runWorkers(options: WorkersOptions): Promise<RunningWorkers> {
  const env = options.env ?? process.env;
  const config = loadConfig(env);
  const logger = createLogger({ file: config.logFile, level: config.logLevel, stdout: config.logToStdout, pretty: config.logPretty });
  const databaseUrl = await resolveDatabaseUrl({ DATABASE_URL: config.databaseUrl ?? '' }, 'while-used');
  const workers = new Map<number, Worker>();
  const startedAt = new Map<Worker, number>();
  let closing = false;

  cluster.setupPrimary({ exec: WORKER_MAIN, args: [] });
  const answerMetrics = serveMetrics(() => workers);
  const fork = (index: number): Worker => {
    const worker = cluster.fork({
      ...env,
      DATABASE_URL: databaseUrl,
      REALTIME_PORT: String(options.port),
      ...(options.host ? { REALTIME_HOST: options.host } : {}),
      [WORKER_INDEX_VARIABLE]: String(index),
    });
    workers.set(index, worker);
    startedAt.set(worker, Date.now());
    worker.on('message', (message: unknown) => answerMetrics(worker, message));
    return worker;
  };

  const indexes = Array.from({ length: options.count }, (_, offset) => offset + 1);
  const ports = await Promise.allSettled(indexes.map((index) => listening(fork(index))));
  const failed = ports.find((result) => result.status === 'rejected');
  if (failed) {
    closing = true;
    await Promise.all([...workers.values()].map((worker) => drain(worker)));
    if (!config.databaseUrl) await releaseEmbeddedPostgres();
    throw new UserError(`the server did not start: ${(failed.reason as Error).message}`);
  }
  const port = (ports[0] as PromiseFulfilledResult<number>).value;

  cluster.on('exit', (worker, code, signal) => {
    const index = [...workers].find(([, running]) => running === worker)?.[0];
    if (closing || index === undefined) return;
    const lived = Date.now() - (startedAt.get(worker) ?? 0);
    startedAt.delete(worker);
    logger.warn({ code: LogCode.workerReplaced, worker: index, exitCode: code, signal }, `worker ${index} exited (${signal ?? `code ${code}`}); starting another in its place`);
    setTimeout(
      () => {
        if (!closing) fork(index);
      },
      lived < QUICK_DEATH_MS ? REPLACE_DELAY_MS : 0,
    );
  });
  logger.info(
    { code: LogCode.workersListening, workers: options.count, port },
    `realtime server listening on port ${port} with ${options.count} worker processes (REALTIME_WORKERS=${options.chosenBy})`,
  );

  return {
    port,
    logger,
    async close() {
      closing = true;
      await Promise.all([...workers.values()].map((worker) => drain(worker)));
      if (!config.databaseUrl) await releaseEmbeddedPostgres();
      logger.info({ code: LogCode.serverStopped, workers: options.count }, 'realtime server stopped');
    },
  };
}

/** Resolves with the port once `worker` listens; rejects when it exits first. */
function listening(worker: Worker): Promise<number> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null, signal: string | null) => reject(new Error(`a worker exited before it listened (${signal ?? `code ${code}`})`));
    worker.once('exit', onExit);
    worker.once('listening', (address) => {
      worker.off('exit', onExit);
      resolve(address.port);
    });
  });
}

/** Asks `worker` to shut down gracefully and waits for it to exit, killing it after DRAIN_TIMEOUT_MS. */
function drain(worker: Worker): Promise<void> {
  if (worker.isDead()) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => worker.process.kill('SIGKILL'), DRAIN_TIMEOUT_MS);
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    worker.process.kill('SIGTERM');
  });
}
