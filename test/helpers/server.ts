// Realtime servers in the test's own process, on fresh databases, with their logs in a temporary file.
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { startServer, type RunningServer, type StartOptions } from '@nself/server';
import { createTestDatabase, type TestDatabase } from './database.js';

/**
 * Starts a server on `db` on a free port of loopback, logging to a temporary file (not stdout), reading
 * no configuration from the environment. Clients without a token act as no database role (they see
 * every table change in development mode), whichever roles the cluster has; `options` override all of it.
 */
export async function startTestServer(db: TestDatabase, options: StartOptions = {}): Promise<RunningServer> {
  return startServer({
    port: 0,
    host: '127.0.0.1',
    databaseUrl: db.url,
    anonymousRole: null,
    logToStdout: false,
    logFile: path.join(os.tmpdir(), `nself-realtime-test-${process.pid}.log`),
    env: {},
    ...options,
  });
}

/**
 * A server on a fresh database for the tests of one file: started before them (then `setup` runs on
 * the database), stopped and dropped after.
 */
export function useTestServer(options: StartOptions = {}, setup?: (db: TestDatabase) => Promise<void>): { readonly db: TestDatabase; readonly server: RunningServer } {
  const state: { db?: TestDatabase; server?: RunningServer } = {};
  before(async () => {
    state.db = await createTestDatabase({ migrated: true });
    state.server = await startTestServer(state.db, options);
    await setup?.(state.db);
  });
  after(async () => {
    await state.server?.close();
    await state.db?.drop();
  });
  return {
    get db() {
      if (!state.db) throw new Error('the test database is not ready yet');
      return state.db;
    },
    get server() {
      if (!state.server) throw new Error('the test server is not ready yet');
      return state.server;
    },
  };
}

/** A server on its own database that can be stopped and started again on the same port. */
export interface TestRealtime {
  readonly db: TestDatabase;
  /** The seed's kind of address: `ws://127.0.0.1:<port>`, no path. */
  readonly url: string;
  readonly port: number;
  /** Stops the server (clients see the connection drop); `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and drops the database. */
  close(): Promise<void>;
}

/**
 * Starts a server on a fresh, migrated database as the client SDK's users run it: configured from the
 * environment, anonymous clients acting as `anon`; `jwtSecret` turns development mode off.
 */
export async function startTestRealtime(options: { jwtSecret?: string } = {}): Promise<TestRealtime> {
  const db = await createTestDatabase({ migrated: true });
  const settings: StartOptions = { env: process.env, anonymousRole: 'anon', logFile: path.join(os.tmpdir(), 'nself-client-tests.log'), ...options };
  let server: RunningServer | undefined = await startTestServer(db, settings);
  const port = server.port;
  return {
    db,
    url: `ws://127.0.0.1:${port}`,
    port,
    async stop() {
      await server?.close();
      server = undefined;
    },
    async start() {
      server ??= await startTestServer(db, { ...settings, port });
    },
    async close() {
      await server?.close();
      server = undefined;
      await db.drop();
    },
  };
}
