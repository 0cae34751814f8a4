// Runs `nself realtime start` as a separate process for restart, shutdown and multi-process tests.
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './cli.js';
import { waitFor } from './wait.js';

const BIN = path.join(REPO_ROOT, 'packages', 'cli', 'bin', 'nself.js');

/** A server running in its own process. */
export interface ServerProcess {
  readonly port: number;
  readonly child: ChildProcess;
  readonly output: () => string;
  /** Sends a signal and resolves with the exit code (npm's own when started with `viaNpm`). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A free TCP port on loopback. */
export { findFreePort as freePort } from '@nself/db';

/**
 * Starts `nself realtime start` (or, with `viaNpm`, `npm start` as the README says) on `port`
 * against `databaseUrl`, and waits until /healthcheck answers.
 */
export async function startServerProcess(databaseUrl: string, port: number, env: Record<string, string> = {}, viaNpm = false): Promise<ServerProcess> {
  const [command, args] = viaNpm ? ['npm', ['start', '--silent']] : [process.execPath, [BIN, 'realtime', 'start']];
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      REALTIME_PORT: String(port),
      REALTIME_HOST: '127.0.0.1',
      REALTIME_LOG_FILE: path.join(os.tmpdir(), `nself-realtime-process-${port}.log`),
      REALTIME_JWT_SECRET: '',
      REALTIME_ANONYMOUS_ROLE: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // npm runs the server under a shell that does not pass signals on: signal the whole group.
    detached: viaNpm,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}: ${output}`);
      return fetch(`http://127.0.0.1:${port}/healthcheck`).then(
        (response) => response.ok,
        () => false,
      );
    },
    `the server process on port ${port}`,
    30_000,
  );
  return {
    port,
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        if (viaNpm) process.kill(-child.pid, signal);
        else child.kill(signal);
      }
      return exited;
    },
  };
}
