// For client tests: a file's realtime server and the clients of its tests, the seed's runCommand, and joining channels.
import { after, before } from 'node:test';
import { RealtimeClient, type RealtimeClientOptions } from '@nself/client';
import { realtime } from '../helpers/cli.js';
import { startTestRealtime, type TestRealtime } from '../helpers/server.js';

/** A test file's realtime server, and the clients its tests make (all disconnected after the file). */
export interface RealtimeSuite {
  readonly server: TestRealtime;
  /** A client of the server (or of `options.url`), reconnecting after 100 ms unless `options` say otherwise. */
  client(options?: Partial<RealtimeClientOptions>): RealtimeClient;
}

/** Starts a server before the file's tests (then runs `setup`), and stops it and every client after them. */
export function realtimeSuite(serverOptions: { jwtSecret?: string } = {}, setup?: (server: TestRealtime) => Promise<void>): RealtimeSuite {
  let running: TestRealtime | undefined;
  const clients: RealtimeClient[] = [];
  before(async () => {
    running = await startTestRealtime(serverOptions);
    await setup?.(running);
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.disconnect()));
    await running?.close();
  });
  return {
    get server() {
      if (!running) throw new Error('the realtime server starts in before(); use it inside tests');
      return running;
    },
    client(options = {}) {
      const client = new RealtimeClient({ reconnectDelayMs: () => 100, ...options, url: options.url ?? this.server.url });
      clients.push(client);
      return client;
    },
  };
}

/**
 * Runs one of the seed's `runCommand('ɳSelf realtime …')` lines with the real CLI against `databaseUrl`,
 * failing with the command's stderr when it exits non-zero. Returns its standard output.
 */
export async function runCommand(command: string, databaseUrl: string): Promise<string> {
  const words = splitWords(command);
  const start = words.indexOf('realtime');
  if (start < 0) throw new Error(`not a realtime command: ${command}`);
  const result = await realtime(words.slice(start + 1), { databaseUrl });
  if (result.code !== 0) throw new Error(`${command} exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** Splits a command line into words, honouring single and double quotes. */
function splitWords(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2] ?? match[3] ?? '');
}

/** Resolves when the channel reports SUBSCRIBED; fails after `timeoutMs` with the last status and error seen. */
export function subscribed(channel: { subscribe(callback: (status: string, error?: Error) => void): unknown }, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let last = 'no status';
    const timer = setTimeout(() => reject(new Error(`channel did not join in time (last: ${last})`)), timeoutMs);
    channel.subscribe((status, error) => {
      last = error ? `${status}: ${error.message}` : status;
      if (status !== 'SUBSCRIBED') return;
      clearTimeout(timer);
      resolve();
    });
  });
}
