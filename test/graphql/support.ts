// For GraphQL tests: a server with a JWT secret and an admin secret on a fresh database with a role for users, Hasura-claims tokens, and the real clients.
import assert from 'node:assert/strict';
import pg from 'pg';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import type { FormattedExecutionResult as ExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import type { RunningServer, StartOptions } from '@nself/server';
import type { TestDatabase } from '../helpers/database.js';
import { useRoleServer } from '../server/postgres-changes-support.js';
import { JWT_SECRET } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

export const ADMIN_SECRET = 'graphql-test-admin-secret';

/** A server for one test file, and the database role (as a Hasura role) its users' tokens name. */
export interface GraphQLServer {
  readonly db: TestDatabase;
  readonly server: RunningServer;
  /** The Hasura role users act as: a database role made for the file. */
  readonly role: string;
  /** `http://127.0.0.1:<port>/v1/graphql`, as `nhost.graphql.url` would be. */
  readonly graphqlUrl: string;
}

/** Starts a server with a JWT secret and the admin secret, makes a role, then runs `setupSql(role)` on the database. */
export function useGraphQLServer(setupSql: (role: string) => string, options: StartOptions = {}): GraphQLServer {
  const env = useRoleServer('gql_user', setupSql, { graphqlAdminSecret: ADMIN_SECRET, ...options });
  return {
    role: env.role,
    get db() {
      return env.db;
    },
    get server() {
      return env.server;
    },
    get graphqlUrl() {
      return `${env.server.url.replace('localhost', '127.0.0.1')}/v1/graphql`;
    },
  };
}

/** A token as Nhost's auth service issues it: `sub` and Hasura claims for `role`, expiring in `expiresInSeconds`. */
export async function hasuraToken(userId: string, role: string, options: { expiresInSeconds?: number } = {}): Promise<string> {
  return new SignJWT({
    'https://hasura.io/jwt/claims': { 'x-hasura-default-role': role, 'x-hasura-allowed-roles': [role], 'x-hasura-user-id': userId, 'x-hasura-user-is-anonymous': 'false' },
  })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresInSeconds ?? 3600))
    .sign(new TextEncoder().encode(JWT_SECRET));
}

/** A GraphQL answer as the server sends it: data, and errors in Hasura's shape. */
export interface Answer {
  readonly data?: Record<string, unknown> | null;
  readonly errors?: { message: string; extensions: { code: string; path: string } }[];
}

/** POSTs a GraphQL request with `headers`; the HTTP status and the JSON body. */
export async function postGraphQL(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Answer }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Answer };
}

/** A graphql-ws client (graphql-transport-ws) on `url` presenting `accessToken` as Nhost apps do; `closes` records close events. */
export function wsClient(
  url: string,
  accessToken: string | undefined,
  options: { headers?: Record<string, string> } = {},
): Client & { closes: { code: number; reason: string }[] } {
  const closes: { code: number; reason: string }[] = [];
  const client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    // Closes are recorded below, where tests look for them.
    onNonLazyError: () => undefined,
    connectionParams: () => ({ headers: { ...(accessToken ? { Authorization: `Bearer ${accessToken}` } : {}), ...options.headers } }),
    on: { closed: (event) => closes.push({ code: (event as { code: number }).code, reason: (event as { reason: string }).reason }) },
  });
  return Object.assign(client, { closes });
}

/** A subscription whose results are recorded; `errors` and `done` tell how it ended. */
export interface Recorded<T> {
  readonly results: ExecutionResult<T, unknown>[];
  readonly errors: unknown[];
  done: boolean;
  stop(): void;
}

/** Subscribes with the graphql-ws client and records every result. */
export function record<T = Record<string, unknown>>(client: Client, query: string, variables?: Record<string, unknown>): Recorded<T> {
  const recorded: Recorded<T> = { results: [], errors: [], done: false, stop: () => undefined };
  recorded.stop = client.subscribe<T>(
    { query, ...(variables ? { variables } : {}) },
    {
      next: (result) => recorded.results.push(result),
      error: (error) => recorded.errors.push(error),
      complete: () => {
        recorded.done = true;
      },
    },
  );
  return recorded;
}

/** Waits until `recorded` has `count` results; returns the last. */
export async function nthResult<T>(recorded: Recorded<T>, count: number, what: string): Promise<ExecutionResult<T, unknown>> {
  await waitFor(
    () => recorded.results.length >= count || recorded.errors.length > 0,
    () => `${what} (results so far: ${JSON.stringify(recorded.results)})`,
  );
  if (recorded.errors.length > 0) throw new Error(`${what}: the subscription failed: ${JSON.stringify(recorded.errors)}`);
  return recorded.results[count - 1] as ExecutionResult<T, unknown>;
}

const ROWS_PER_TRANSACTION = 10;

/**
 * Inserts exactly `rows` rows into `messages (writer, body)` from `writers` connections at once, a few rows per
 * transaction, each transaction sometimes held open a moment after its ids were taken, so that
 * commits overtake each other.
 */
export async function insertAsWriters(url: string, writers: number, rows: number): Promise<void> {
  await Promise.all(
    Array.from({ length: writers }, async (_, index) => {
      const writer = index + 1;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const own = Math.floor(rows / writers) + (index < rows % writers ? 1 : 0);
        for (let done = 0; done < own; done += ROWS_PER_TRANSACTION) {
          await client.query('BEGIN');
          await client.query(`INSERT INTO messages (writer, body) SELECT $1::int, 'w' || $1::int || ' #' || n FROM generate_series($2::int, $3::int) AS n`, [
            writer,
            done,
            Math.min(done + ROWS_PER_TRANSACTION, own) - 1,
          ]);
          if (Math.random() < 0.3) await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
          await client.query('COMMIT');
        }
      } finally {
        await client.end();
      }
    }),
  );
}

/** A metric's value from the server's /metrics. */
export async function metric(env: GraphQLServer, name: string): Promise<number> {
  const text = await (await fetch(`${env.server.url}/metrics`)).text();
  return Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1]);
}

/**
 * Follows `table (id serial, room int, body text)` with a live query of room 1: it must neither send
 * nor even run on writes to room 2 (INSERTs; with `oldRows: 'whole'`, UPDATEs and DELETEs too, which
 * a key-only old row cannot rule out), and must follow a row inserted into room 1, moved in, moved
 * out and deleted.
 */
export async function followRoomOne(env: GraphQLServer, table: string, oldRows: 'whole' | 'key'): Promise<void> {
  type Rows = Record<string, { id: number; body: string }[]>;
  const client = wsClient(env.graphqlUrl, await hasuraToken('reader', env.role));
  const write = async (text: string, values: unknown[] = []) => (await env.db.pool.query<{ id: number }>(text, values)).rows.map((row) => row.id);
  const runs = () => metric(env, 'realtime_graphql_live_query_runs_total');
  const skips = () => metric(env, 'realtime_graphql_live_query_skips_total');
  try {
    const live = record<Rows>(client, `subscription { ${table}(where: {room: {_eq: 1}}, order_by: {id: asc}) { id body } }`);
    assert.deepEqual((await nthResult(live, 1, 'the first result')).data, { [table]: [] });
    const [runsBefore, skipsBefore] = [await runs(), await skips()];
    const [a, b] = await write(`INSERT INTO ${table} (room, body) VALUES (2, 'a'), (2, 'b') RETURNING id`);
    let skippable = 2;
    if (oldRows === 'whole') {
      await write(`UPDATE ${table} SET body = 'a2' WHERE id = $1`, [a]);
      await write(`DELETE FROM ${table} WHERE id = $1`, [b]);
      skippable += 2;
    }
    await waitFor(async () => (await skips()) - skipsBefore >= skippable, `${skippable} writes to room 2 skipped`);
    assert.equal((await runs()) - runsBefore, 0, 'the live query did not run for writes to room 2');
    assert.equal(live.results.length, 1, 'nothing sent for writes to room 2');

    const [c] = await write(`INSERT INTO ${table} (room, body) VALUES (1, 'c') RETURNING id`);
    assert.deepEqual((await nthResult(live, 2, 'the row inserted into room 1')).data, { [table]: [{ id: c, body: 'c' }] });
    await write(`UPDATE ${table} SET room = 1 WHERE id = $1`, [a]);
    assert.deepEqual((await nthResult(live, 3, 'the row moved into room 1')).data, {
      [table]: [
        { id: a, body: oldRows === 'whole' ? 'a2' : 'a' },
        { id: c, body: 'c' },
      ],
    });
    await write(`UPDATE ${table} SET room = 2 WHERE id = $1`, [c]);
    assert.deepEqual((await nthResult(live, 4, 'the row moved out of room 1')).data, { [table]: [{ id: a, body: oldRows === 'whole' ? 'a2' : 'a' }] });
    await write(`DELETE FROM ${table} WHERE id = $1`, [a]);
    assert.deepEqual((await nthResult(live, 5, 'the matching row deleted')).data, { [table]: [] });
  } finally {
    await client.dispose();
  }
}
