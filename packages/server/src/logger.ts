// Structured logs with pino: JSON lines appended to the log file that `nself realtime logs` reads, and on stdout, readable on a terminal.
import cluster from 'node:cluster';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { readableLogLines } from './readable-logs.js';

export type { Logger };

/** The environment variable that tells a worker process its index (1…N); its log lines carry it as `worker`. */
export const WORKER_INDEX_VARIABLE = 'NSELF_WORKER_INDEX';

/** A logger writing JSON lines to the log file and, unless disabled, to stdout: readable lines with `pretty`, else JSON. */
export function createLogger(options: { file: string; level: string; stdout: boolean; pretty: boolean }): Logger {
  mkdirSync(path.dirname(options.file), { recursive: true });
  const streams: pino.StreamEntry[] = [{ level: 'trace', stream: pino.destination({ dest: options.file, append: true, sync: true }) }];
  if (options.stdout) streams.push({ level: 'trace', stream: options.pretty ? readableStdout() : pino.destination({ dest: 1, sync: true }) });
  const worker = process.env[WORKER_INDEX_VARIABLE];
  return pino({ level: options.level, base: { pid: process.pid, ...(cluster.isWorker && worker ? { worker: Number(worker) } : {}) } }, pino.multistream(streams));
}

function readableStdout(): { write(line: string): void } {
  const readable = readableLogLines();
  const stdout = pino.destination({ dest: 1, sync: true });
  return { write: (line) => void stdout.write(readable(line)) };
}
