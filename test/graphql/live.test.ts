// Live queries pushed by change capture, with the graphql-ws client, Apollo Client's GraphQLWsLink and the legacy subscriptions-transport-ws client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { ApolloClient, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import { ADMIN_SECRET, followRoomOne, hasuraToken, metric as metricOf, nthResult, record, useGraphQLServer, wsClient } from './support.js';
import { sleep, waitFor } from '../helpers/wait.js';

const env = useGraphQLServer(
  (role) => `
    CREATE TABLE todos (id serial PRIMARY KEY, owner text NOT NULL, title text NOT NULL, done boolean NOT NULL DEFAULT false);
    CREATE TABLE unrelated (id serial PRIMARY KEY, note text);
    CREATE TABLE chat (id serial PRIMARY KEY, room int NOT NULL, body text NOT NULL);
    CREATE TABLE chat_full (id serial PRIMARY KEY, room int NOT NULL, body text NOT NULL);
    ALTER TABLE chat_full REPLICA IDENTITY FULL;
    CREATE VIEW open_todo_titles AS SELECT id, title FROM todos WHERE NOT done;
    GRANT USAGE ON SCHEMA public TO ${role};
    GRANT SELECT ON todos, unrelated, chat, chat_full TO ${role};
    ALTER TABLE todos ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_todos ON todos FOR SELECT TO ${role}
      USING (owner = current_setting('request.jwt.claims', true)::json -> 'https://hasura.io/jwt/claims' ->> 'x-hasura-user-id');
  `,
);

const LIVE = 'subscription { todos(order_by: {id: asc}) { id title done } }';
type Todos = { todos: { id: number; title: string; done: boolean }[] };

/** Runs `write` and resolves with the ms from its commit until `arrived()` holds. */
async function commitToResult(write: () => Promise<unknown>, arrived: () => boolean): Promise<number> {
  await write();
  const committed = performance.now();
  // Polled every millisecond (not waitFor's 20 ms), so the figure is the delay itself.
  while (!arrived()) {
    if (performance.now() - committed > 10_000) throw new Error('no new result within 10 s of the commit');
    await sleep(1);
  }
  return performance.now() - committed;
}

test('graphql-ws: a live query sends the first result, then a new one on INSERT, UPDATE and DELETE (median within 50 ms of commit); silent on unrelated writes; each user sees only their rows', async (t) => {
  const alice = wsClient(env.graphqlUrl, await hasuraToken('alice', env.role));
  const bob = wsClient(env.graphqlUrl, await hasuraToken('bob', env.role));
  try {
    const ofAlice = record<Todos>(alice, LIVE);
    const ofBob = record<Todos>(bob, LIVE);
    assert.deepEqual((await nthResult(ofAlice, 1, 'the first result')).data, { todos: [] });
    await nthResult(ofBob, 1, "bob's first result");
    const latencies: number[] = [];
    for (let round = 0; round < 5; round += 1) {
      const count = ofAlice.results.length;
      let id = 0;
      latencies.push(
        await commitToResult(
          async () => {
            const { rows } = await env.db.pool.query<{ id: number }>(`INSERT INTO todos (owner, title) VALUES ('alice', 'write tests') RETURNING id`);
            id = rows[0]?.id ?? 0;
          },
          () => ofAlice.results.length === count + 1,
        ),
      );
      assert.deepEqual(ofAlice.results[count]?.data, { todos: [{ id, title: 'write tests', done: false }] });
      latencies.push(
        await commitToResult(
          () => env.db.pool.query('UPDATE todos SET done = true WHERE id = $1', [id]),
          () => ofAlice.results.length === count + 2,
        ),
      );
      assert.deepEqual(ofAlice.results[count + 1]?.data, { todos: [{ id, title: 'write tests', done: true }] });
      latencies.push(
        await commitToResult(
          () => env.db.pool.query('DELETE FROM todos WHERE id = $1', [id]),
          () => ofAlice.results.length === count + 3,
        ),
      );
      assert.deepEqual(ofAlice.results[count + 2]?.data, { todos: [] });
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] as number;
    t.diagnostic(`commit to live result over ${latencies.length} writes: median ${median.toFixed(1)} ms, max ${(sorted.at(-1) as number).toFixed(1)} ms`);
    assert.ok(median < 50, `the median commit-to-result time was ${median.toFixed(1)} ms (all: ${latencies.map((ms) => ms.toFixed(1)).join(', ')})`);

    // Another table, and another user's row in this one: the first is never re-run, the second gives an equal result, so nothing is sent.
    const seen = ofAlice.results.length;
    await env.db.pool.query(`INSERT INTO unrelated (note) VALUES ('x')`);
    await env.db.pool.query(`INSERT INTO todos (owner, title) VALUES ('bob', 'private')`);
    await waitFor(() => ofBob.results.length === 2, "bob's row reaching bob");
    assert.deepEqual(
      ofBob.results[1]?.data?.todos.map((todo) => todo.title),
      ['private'],
    );
    await sleep(300);
    assert.equal(ofAlice.results.length, seen, `alice received nothing for writes she cannot see: ${JSON.stringify(ofAlice.results.slice(seen))}`);
    ofAlice.stop();
  } finally {
    await alice.dispose();
    await bob.dispose();
  }
});

/** A metric's value from the server's /metrics. */
const metric = (name: string) => metricOf(env, name);

test('subscribers of the same live query share one evaluation per change; other variables make another live query', async () => {
  const clients = await Promise.all([1, 2, 3].map(async () => wsClient(env.graphqlUrl, await hasuraToken('frank', env.role))));
  const query = 'subscription Mine($not: String!) { todos(where: {title: {_neq: $not}}) { id title } }';
  try {
    const same = clients.map((client) => record<Todos>(client, query, { not: 'x' }));
    const other = record<Todos>(clients[0] as (typeof clients)[0], query, { not: 'y' });
    for (const recorded of [...same, other]) await nthResult(recorded, 1, 'the first result');
    await waitFor(async () => (await metric('realtime_graphql_live_queries')) === 2, 'two distinct live queries');
    const runsBefore = await metric('realtime_graphql_live_query_runs_total');
    await env.db.pool.query(`INSERT INTO todos (owner, title) VALUES ('frank', 'shared')`);
    for (const recorded of [...same, other]) await nthResult(recorded, 2, 'the insert');
    assert.deepEqual(
      same.map((recorded) => recorded.results[1]?.data?.todos.map((todo) => todo.title)),
      [['shared'], ['shared'], ['shared']],
    );
    assert.equal((await metric('realtime_graphql_live_query_runs_total')) - runsBefore, 2, 'one evaluation per distinct live query');
  } finally {
    for (const client of clients) await client.dispose();
  }
  await waitFor(async () => (await metric('realtime_graphql_live_queries')) === 0, 'no live query left once its subscribers are gone');
});

test('a live query with where: {room: {_eq: 1}} neither runs nor sends on INSERTs to room 2, and follows rows into, out of and deleted from room 1', async () => {
  await followRoomOne(env, 'chat', 'key');
});

test('with REPLICA IDENTITY FULL the old row is whole: UPDATEs and DELETEs in room 2 do not run the live query either', async () => {
  await followRoomOne(env, 'chat_full', 'whole');
});

test('Apollo Client with GraphQLWsLink receives live results as Nhost apps wire it', async () => {
  const accessToken = await hasuraToken('carol', env.role);
  const wsLink = new GraphQLWsLink(wsClient(env.graphqlUrl.replace(/^http/, 'ws'), accessToken));
  const apollo = new ApolloClient({ link: wsLink, cache: new InMemoryCache() });
  const seen: unknown[] = [];
  const subscription = apollo.subscribe<Todos>({ query: gql(LIVE) }).subscribe({ next: (result) => seen.push(result.data) });
  try {
    await waitFor(() => seen.length === 1, 'the first result through Apollo');
    assert.deepEqual(seen[0], { todos: [] });
    const { rows } = await env.db.pool.query<{ id: number }>(`INSERT INTO todos (owner, title) VALUES ('carol', 'from apollo') RETURNING id`);
    await waitFor(() => seen.length === 2, 'the insert through Apollo');
    assert.deepEqual(seen[1], { todos: [{ __typename: 'todos', id: rows[0]?.id, title: 'from apollo', done: false }] });
  } finally {
    subscription.unsubscribe();
    apollo.stop();
  }
});

test('the legacy subscriptions-transport-ws client (graphql-ws subprotocol) receives live results on INSERT, UPDATE and DELETE', async () => {
  const accessToken = await hasuraToken('dave', env.role);
  const client = new SubscriptionClient(
    env.graphqlUrl.replace(/^http/, 'ws'),
    { reconnect: false, connectionParams: { headers: { Authorization: `Bearer ${accessToken}` } } },
    WebSocket,
  );
  const seen: unknown[] = [];
  const subscription = client.request({ query: LIVE }).subscribe({ next: (result) => seen.push(result.data), error: (error: unknown) => seen.push({ error }) });
  try {
    await waitFor(() => seen.length === 1, 'the first legacy result');
    assert.deepEqual(seen[0], { todos: [] });
    const { rows } = await env.db.pool.query<{ id: number }>(`INSERT INTO todos (owner, title) VALUES ('dave', 'legacy') RETURNING id`);
    await waitFor(() => seen.length === 2, 'the insert');
    await env.db.pool.query('UPDATE todos SET title = $2 WHERE id = $1', [rows[0]?.id, 'legacy!']);
    await waitFor(() => seen.length === 3, 'the update');
    await env.db.pool.query('DELETE FROM todos WHERE id = $1', [rows[0]?.id]);
    await waitFor(() => seen.length === 4, 'the delete');
    assert.deepEqual(seen.slice(1), [
      { todos: [{ id: rows[0]?.id, title: 'legacy', done: false }] },
      { todos: [{ id: rows[0]?.id, title: 'legacy!', done: false }] },
      { todos: [] },
    ]);
  } finally {
    subscription.unsubscribe();
    client.close();
  }
});

test('a live query on a view is re-run when a table the view reads changes', async () => {
  const client = wsClient(env.graphqlUrl, undefined, { headers: { 'x-hasura-admin-secret': ADMIN_SECRET } });
  try {
    const live = record<{ open_todo_titles: { title: string }[] }>(client, 'subscription { open_todo_titles(where: {title: {_like: "view %"}}) { title } }');
    assert.deepEqual((await nthResult(live, 1, 'the first result')).data, { open_todo_titles: [] });
    const { rows } = await env.db.pool.query<{ id: number }>(`INSERT INTO todos (owner, title) VALUES ('gina', 'view me') RETURNING id`);
    assert.deepEqual((await nthResult(live, 2, 'the row through the view')).data, { open_todo_titles: [{ title: 'view me' }] });
    await env.db.pool.query('UPDATE todos SET done = true WHERE id = $1', [rows[0]?.id]);
    assert.deepEqual((await nthResult(live, 3, 'the row leaving the view')).data, { open_todo_titles: [] });
  } finally {
    await client.dispose();
  }
});

test('an expired token is refused at connection_init with 4400, and a socket whose token expires is closed with 4403', async () => {
  const expired = wsClient(env.graphqlUrl, await hasuraToken('erin', env.role, { expiresInSeconds: -5 }));
  const refused = record(expired, LIVE);
  await waitFor(() => expired.closes.length > 0, 'the refusal');
  assert.deepEqual(expired.closes[0], { code: 4400, reason: 'Connection initialization failed: Could not verify JWT: JWTExpired' });
  assert.equal(refused.results.length, 0);
  await expired.dispose();

  const shortLived = wsClient(env.graphqlUrl, await hasuraToken('erin', env.role, { expiresInSeconds: 2 }));
  try {
    const live = record(shortLived, LIVE);
    await nthResult(live, 1, 'the first result');
    await waitFor(() => shortLived.closes.length > 0, 'the close at expiry', 5_000);
    assert.deepEqual(shortLived.closes[0], { code: 4403, reason: 'Forbidden: Could not verify JWT: JWTExpired' });
  } finally {
    await shortLived.dispose();
  }
});
