// For table change tests: a supabase-js channel with postgres_changes bindings that records what it receives, and a server with a role for users' tokens.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import pg from 'pg';
import type { RealtimePostgresChangesPayload, SupabaseClient } from '@supabase/supabase-js';
import type { RunningServer, StartOptions } from '@nself/server';
import { adminUrl, type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { subscribe, supabase } from './support.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

export type Change = RealtimePostgresChangesPayload<Record<string, unknown>>;

/** A `system` message as supabase-js hands it to `.on('system')` listeners. */
export interface SystemMessage {
  readonly extension?: string;
  readonly status: string;
  readonly message: string;
  readonly channel?: string;
}

/** A binding as a test writes it; any event text is allowed, to test refusals. */
export interface Binding {
  readonly event: string;
  readonly schema: string;
  readonly table?: string;
  readonly filter?: string;
  readonly select?: string[];
}

/** What a watched channel received: every change, the changes of each binding, and the system messages. */
export interface Watched {
  readonly changes: Change[];
  readonly byBinding: Change[][];
  readonly system: SystemMessage[];
}

/**
 * Joins channel `name` with `bindings` and records what arrives; resolves once the join succeeded and
 * the first system message (the subscription's outcome) arrived.
 */
export async function watchChanges(client: SupabaseClient, name: string, bindings: readonly Binding[]): Promise<Watched> {
  const watched: Watched = { changes: [], byBinding: bindings.map(() => []), system: [] };
  const channel = client.channel(name);
  bindings.forEach((binding, index) => {
    channel.on('postgres_changes', binding as { event: '*'; schema: string }, (payload: Change) => {
      watched.changes.push(payload);
      watched.byBinding[index]?.push(payload);
    });
  });
  channel.on('system', {}, (payload) => watched.system.push(payload as SystemMessage));
  assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
  await waitFor(() => watched.system.length > 0, `the subscription outcome of ${name}`);
  return watched;
}

/** Waits a little longer, so that a change that should not arrive would have. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 300));
}

/** A server with a JWT secret on a fresh database, and a NOLOGIN role for the tokens of the file's users. */
export interface RoleServer {
  readonly role: string;
  readonly db: TestDatabase;
  readonly server: RunningServer;
  /** A supabase-js client whose socket and channels carry a token for `sub` with the role. */
  userClient(sub: string, vsn?: '1.0.0' | '2.0.0'): Promise<SupabaseClient>;
}

/**
 * Before the file's tests: a fresh database, a server on it with `options`, a role named from `prefix`,
 * and `setupSql(role)` run (tables, grants, policies); after them, all of it dropped.
 */
export function useRoleServer(prefix: string, setupSql: (role: string) => string, options: StartOptions = {}): RoleServer {
  const role = `${prefix}_${randomBytes(4).toString('hex')}`;
  let db: TestDatabase | undefined;
  let server: RunningServer | undefined;
  before(async () => {
    db = await createTestDatabase({ migrated: true });
    server = await startTestServer(db, { jwtSecret: JWT_SECRET, ...options });
    await db.pool.query(`CREATE ROLE ${role} NOLOGIN`);
    await db.pool.query(setupSql(role));
  });
  after(async () => {
    await server?.close();
    await db?.drop();
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`).finally(() => admin.end());
  });
  return {
    role,
    get db() {
      return db as TestDatabase;
    },
    get server() {
      return server as RunningServer;
    },
    async userClient(sub, vsn = '2.0.0') {
      const client = supabase(this.server, { key: await token(undefined, { role }), vsn, accessToken: await token(sub, { role }) });
      await client.realtime.setAuth();
      return client;
    },
  };
}
