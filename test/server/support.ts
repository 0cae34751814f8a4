// For server tests: a server on a fresh database, supabase-js clients over `ws`, tokens, and waiting for conditions.
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { RealtimeChannel, WebSocketLikeConstructor } from '@supabase/realtime-js';
import { startServer, type RunningServer, type StartOptions } from '@nself/server';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

export const JWT_SECRET = 'test-secret-with-at-least-32-characters-long';
export const transport = WebSocket as unknown as WebSocketLikeConstructor;

/**
 * Starts a server on `db` with logs in a temporary file (not on stdout). Clients without a token act as
 * no database role (they see every table change in development mode), whichever roles the cluster has.
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

/** A fresh migrated database. */
export function freshDatabase(): Promise<TestDatabase> {
  return createTestDatabase({ migrated: true });
}

/** Signs an HS256 token for `sub` that expires in `expiresInSeconds`. */
export async function token(sub: string | undefined, options: { expiresInSeconds?: number; secret?: string; role?: string } = {}): Promise<string> {
  const jwt = new SignJWT({ role: options.role ?? 'authenticated' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresInSeconds ?? 3600));
  if (sub) jwt.setSubject(sub);
  return jwt.sign(new TextEncoder().encode(options.secret ?? JWT_SECRET));
}

/** An unmodified supabase-js client for the server, with `ws` as transport (Node 20). */
export function supabase(server: { port: number }, options: { key?: string; vsn?: '1.0.0' | '2.0.0'; accessToken?: string } = {}): SupabaseClient {
  const key = options.key ?? 'anon-development-key';
  return createClient(`http://127.0.0.1:${server.port}`, key, {
    realtime: { transport, vsn: options.vsn ?? '2.0.0', timeout: 5_000, heartbeatIntervalMs: 5_000, reconnectAfterMs: () => 200 },
    ...(options.accessToken ? { accessToken: async () => options.accessToken ?? null } : {}),
  } as Parameters<typeof createClient>[2]);
}

/** Subscribes and resolves with the first final status (SUBSCRIBED, CHANNEL_ERROR, TIMED_OUT, CLOSED) and its error. */
export function subscribe(channel: RealtimeChannel): Promise<{ status: string; error?: Error }> {
  return new Promise((resolve) => {
    channel.subscribe((status, error) => resolve({ status, ...(error ? { error } : {}) }));
  });
}

/** Waits until `check` returns a value other than undefined/false, polling every 20 ms. */
export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends a raw WebSocket upgrade request; resolves with 101, or the refusal's status and JSON body. */
export function upgrade(server: { port: number }, pathAndQuery: string, headers: Record<string, string> = {}): Promise<{ status: number; body?: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port: server.port, path: pathAndQuery,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (_response, socket) => {
      socket.destroy();
      resolve({ status: 101 });
    });
    req.on('response', (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text || 'null') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A server on a fresh database for the tests of one file: started before them (then `setup` runs on
 * the database), stopped and dropped after.
 */
export function useTestServer(
  options: StartOptions = {},
  setup?: (db: TestDatabase) => Promise<void>,
): { readonly db: TestDatabase; readonly server: RunningServer } {
  const state: { db?: TestDatabase; server?: RunningServer } = {};
  before(async () => {
    state.db = await freshDatabase();
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
