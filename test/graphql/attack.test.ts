// Hostile GraphQL clients: deep and wide queries, alias and fragment floods, huge batches, unbounded lists, slow statements, operation floods, slow readers and malformed frames.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import type { RunningServer } from '@nself/server';
import { startTestServer } from '../helpers/server.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { upgrade } from '../server/support.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN_SECRET, hasuraToken, postGraphQL, record, useGraphQLServer, wsClient, type Answer } from './support.js';

const LIMITS = {
  maxTokens: 50_000,
  maxDepth: 4,
  maxRootFields: 5,
  maxFields: 60,
  maxRows: 100,
  statementTimeoutMs: 500,
  maxBatch: 3,
  maxOperationsPerConnection: 3,
  maxOperationsPerSecond: 1000,
  maxResultRows: 1000,
  maxResultBytes: 2_000_000,
  maxStreamBacklog: 50,
};

const env = useGraphQLServer(
  (role) => `
    CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE posts (id serial PRIMARY KEY, author_id int REFERENCES authors(id), title text NOT NULL);
    INSERT INTO authors (name) SELECT 'author ' || n FROM generate_series(1, 150) AS n;
    INSERT INTO posts (author_id, title) SELECT 1, 'post ' || n FROM generate_series(1, 150) AS n;
    CREATE VIEW slow AS SELECT 1 AS id FROM pg_sleep(3);
    CREATE TABLE blobs (id int PRIMARY KEY, version int NOT NULL, pad text NOT NULL);
    INSERT INTO blobs VALUES (1, 0, '');
    CREATE TABLE wide (id int PRIMARY KEY, pad text NOT NULL);
    INSERT INTO wide VALUES (1, repeat('x', 3000000));
    GRANT USAGE ON SCHEMA public TO ${role};
    GRANT SELECT ON authors, posts, slow, blobs, wide TO ${role};
  `,
  { graphqlLimits: LIMITS },
);

const admin = { 'x-hasura-admin-secret': ADMIN_SECRET };

/** The one error of an answer: its code and message. */
function onlyError(answer: Answer): { code: string; message: string } {
  assert.equal(answer.errors?.length, 1, JSON.stringify(answer));
  const [error] = answer.errors ?? [];
  return { code: error?.extensions.code ?? '', message: error?.message ?? '' };
}

test('a query nested deeper than REALTIME_GRAPHQL_MAX_DEPTH is refused before it runs; one at the limit is answered', async () => {
  const deep = await postGraphQL(env.graphqlUrl, { query: '{ posts(limit: 1) { author { posts(limit: 1) { author { posts(limit: 1) { id } } } } } }' }, admin);
  assert.equal(deep.status, 200);
  assert.deepEqual(onlyError(deep.body), {
    code: 'validation-failed',
    message: 'the operation nests selections deeper than 4 levels (REALTIME_GRAPHQL_MAX_DEPTH); select fewer nested relationships',
  });
  assert.equal(deep.body.data, undefined);
  // Depth through fragments counts too.
  const viaFragments = await postGraphQL(
    env.graphqlUrl,
    { query: '{ posts(limit: 1) { ...A } } fragment A on posts { author { ...B } } fragment B on authors { posts(limit: 1) { author { name } } }' },
    admin,
  );
  assert.match(onlyError(viaFragments.body).message, /REALTIME_GRAPHQL_MAX_DEPTH/);
  const atLimit = await postGraphQL(env.graphqlUrl, { query: '{ posts(limit: 1, order_by: {id: asc}) { author { posts(limit: 1, order_by: {id: asc}) { title } } } }' }, admin);
  assert.deepEqual(atLimit.body, { data: { posts: [{ author: { posts: [{ title: 'post 1' }] } }] } });
});

test('alias floods are refused: more root fields than REALTIME_GRAPHQL_MAX_ROOT_FIELDS, more fields than REALTIME_GRAPHQL_MAX_FIELDS, and fragments that multiply', async () => {
  const roots = Array.from({ length: 6 }, (_, index) => `a${index}: authors(limit: 1) { id }`).join(' ');
  assert.deepEqual(onlyError((await postGraphQL(env.graphqlUrl, { query: `{ ${roots} }` }, admin)).body), {
    code: 'validation-failed',
    message: 'the operation has more than 5 root fields (REALTIME_GRAPHQL_MAX_ROOT_FIELDS), aliases included; split it into several operations',
  });
  const fields = Array.from({ length: 10_000 }, (_, index) => `f${index}: name`).join(' ');
  const started = Date.now();
  const wide = await postGraphQL(env.graphqlUrl, { query: `{ authors(limit: 1) { ${fields} } }` }, admin);
  assert.deepEqual(onlyError(wide.body), {
    code: 'validation-failed',
    message: 'the operation selects more than 60 fields (REALTIME_GRAPHQL_MAX_FIELDS); split it or select fewer fields',
  });
  // Each fragment uses the previous one ten times: 10^8 fields if expanded.
  const layers = Array.from({ length: 8 }, (_, level) => `fragment L${level + 1} on authors { ${Array.from({ length: 10 }, () => `...L${level}`).join(' ')} }`);
  const bomb = `{ authors(limit: 1) { ...L8 } } fragment L0 on authors { name } ${layers.join(' ')}`;
  assert.match(onlyError((await postGraphQL(env.graphqlUrl, { query: bomb }, admin)).body).message, /REALTIME_GRAPHQL_MAX_FIELDS/);
  assert.ok(Date.now() - started < 5_000, `refusals took ${Date.now() - started} ms`);
  // A subscription is checked the same way, and the socket stays open.
  const client = wsClient(env.graphqlUrl, await hasuraToken('u', env.role));
  const deep = record(client, 'subscription { posts(limit: 1) { author { posts(limit: 1) { author { posts(limit: 1) { id } } } } } }');
  await waitFor(() => deep.errors.length > 0, 'the refusal');
  assert.match(JSON.stringify(deep.errors), /REALTIME_GRAPHQL_MAX_DEPTH/);
  assert.deepEqual(client.closes, []);
  await client.dispose();
});

test('a document of more tokens than REALTIME_GRAPHQL_MAX_TOKENS is refused without being parsed whole; JSON nested deeper than REALTIME_MAX_JSON_DEPTH is refused', async () => {
  const started = Date.now();
  const huge = await postGraphQL(env.graphqlUrl, { query: `{ authors(limit: 1) { ${'id '.repeat(300_000)} } }` }, admin);
  assert.deepEqual(onlyError(huge.body), {
    code: 'validation-failed',
    message: 'the document has more than 50000 tokens (REALTIME_GRAPHQL_MAX_TOKENS); send a smaller one',
  });
  assert.ok(Date.now() - started < 1_000, `refused in ${Date.now() - started} ms`);
  const deepVariables = { query: 'query ($v: jsonb) { authors(limit: 1) { id } }', variables: { v: JSON.parse(`${'['.repeat(500)}${']'.repeat(500)}`) as unknown } };
  const http = await postGraphQL(env.graphqlUrl, deepVariables, admin);
  assert.equal(http.status, 400);
  assert.match(onlyError(http.body).message, /^the body is refused: nests deeper than 100 levels of arrays and objects at \$\.variables\.v/);
  const transport = await rawSocket(env.server, ['graphql-transport-ws']);
  transport.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${await hasuraToken('u', env.role)}` } } });
  await waitFor(() => transport.frames.some((frame) => frame.type === 'connection_ack'), 'connection_ack');
  transport.send({ type: 'subscribe', id: '1', payload: deepVariables });
  const closed = await transport.closed;
  assert.equal(closed.code, 4400);
  assert.match(closed.reason, /^Invalid message received: nests deeper than 100 levels/);
});

test('a batch of more than REALTIME_GRAPHQL_MAX_BATCH requests is refused with 400; a batch within it is answered in order', async () => {
  const item = { query: '{ authors(limit: 1, order_by: {id: asc}) { name } }' };
  const huge = await postGraphQL(
    env.graphqlUrl,
    Array.from({ length: 1000 }, () => item),
    admin,
  );
  assert.equal(huge.status, 400);
  assert.deepEqual(onlyError(huge.body), { code: 'batch-limit-exceeded', message: 'the batch has 1000 requests; at most 3 are accepted (REALTIME_GRAPHQL_MAX_BATCH)' });
  const fine = await postGraphQL(env.graphqlUrl, [item, { query: '{ posts(limit: 1, order_by: {id: desc}) { title } }' }, item], admin);
  assert.equal(fine.status, 200);
  assert.deepEqual(fine.body, [{ data: { authors: [{ name: 'author 1' }] } }, { data: { posts: [{ title: 'post 150' }] } }, { data: { authors: [{ name: 'author 1' }] } }]);
  const tooBig = await fetch(env.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...admin },
    body: JSON.stringify({ query: `{ authors { id } } #${'x'.repeat(2_000_000)}` }),
  });
  assert.equal(tooBig.status, 413, 'a body over REALTIME_MAX_FRAME_BYTES');
});

test('a list longer than REALTIME_GRAPHQL_MAX_ROWS is an error naming it, never a shorter list; limit, where and aggregate counts work within it', async () => {
  const unbounded = await postGraphQL(env.graphqlUrl, { query: '{ authors { id } }' }, admin);
  assert.deepEqual(unbounded.body.errors, [
    {
      message: 'authors has more than 100 rows (REALTIME_GRAPHQL_MAX_ROWS); ask for fewer with "limit" (at most 100) or a narrower "where", or page with "offset"',
      extensions: { code: 'row-limit-exceeded', path: '$.authors' },
    },
  ]);
  const limited = await postGraphQL(env.graphqlUrl, { query: '{ authors(limit: 100) { id } }' }, admin);
  assert.equal((limited.body.data?.['authors'] as unknown[]).length, 100);
  const narrow = await postGraphQL(env.graphqlUrl, { query: '{ authors(limit: 100000, where: {id: {_lte: 40}}) { id } }' }, admin);
  assert.equal((narrow.body.data?.['authors'] as unknown[]).length, 40, 'a large limit is fine while the rows are few');
  const nested = await postGraphQL(env.graphqlUrl, { query: '{ authors(where: {id: {_eq: 1}}) { name posts { id } } }' }, admin);
  assert.deepEqual(
    nested.body.errors?.map((error) => [error.extensions.code, error.extensions.path]),
    [['row-limit-exceeded', '$.authors.0.posts']],
  );
  const counted = await postGraphQL(env.graphqlUrl, { query: '{ authors_aggregate { aggregate { count } } }' }, admin);
  assert.deepEqual(counted.body, { data: { authors_aggregate: { aggregate: { count: 150 } } } });
  const nodes = await postGraphQL(env.graphqlUrl, { query: '{ authors_aggregate { aggregate { count } nodes { id } } }' }, admin);
  assert.equal(onlyError(nodes.body).code, 'row-limit-exceeded');
  const client = wsClient(env.graphqlUrl, await hasuraToken('u', env.role));
  const stream = record(client, 'subscription { authors_stream(batch_size: 1000, cursor: {initial_value: {id: 0}}) { id } }');
  await waitFor(() => stream.errors.length > 0 || stream.results.length > 0, 'the stream refused');
  assert.match(JSON.stringify([...stream.errors, ...stream.results]), /batch_size must be a whole number from 1 to 100 \(REALTIME_GRAPHQL_MAX_ROWS\)/);
  await client.dispose();
});

test('a statement running past REALTIME_GRAPHQL_STATEMENT_TIMEOUT_MS is cancelled with a clear error, and the socket stays usable', async () => {
  const started = Date.now();
  const http = await postGraphQL(env.graphqlUrl, { query: '{ slow { id } }' }, admin);
  assert.deepEqual(onlyError(http.body), {
    code: 'statement-timeout',
    message: 'the query ran longer than 500 ms (REALTIME_GRAPHQL_STATEMENT_TIMEOUT_MS) and was cancelled; narrow it with "where" and "limit", or add an index',
  });
  assert.ok(Date.now() - started < 2_500, 'cancelled well before the view would end');
  const client = wsClient(env.graphqlUrl, await hasuraToken('u', env.role));
  const slow = record(client, '{ slow { id } }');
  await waitFor(() => slow.done, 'the slow query answered');
  assert.equal((slow.results[0]?.errors?.[0]?.extensions as { code?: string } | undefined)?.code, 'statement-timeout');
  const next = record(client, '{ authors(limit: 1, order_by: {id: asc}) { name } }');
  await waitFor(() => next.done, 'the next query');
  assert.deepEqual(next.results, [{ data: { authors: [{ name: 'author 1' }] } }]);
  assert.deepEqual(client.closes, []);
  await client.dispose();
});

test('more operations at once than REALTIME_GRAPHQL_MAX_OPERATIONS_PER_CONNECTION get an error for their id (both protocols); the others keep running', async () => {
  const client = wsClient(env.graphqlUrl, await hasuraToken('u', env.role));
  const live = [1, 2, 3].map((n) => record(client, `subscription { authors(where: {id: {_eq: ${n}}}) { name } }`));
  await waitFor(() => live.every((subscription) => subscription.results.length > 0), 'three live queries');
  const fourth = record(client, 'subscription { authors(where: {id: {_eq: 4}}) { name } }');
  await waitFor(() => fourth.errors.length > 0, 'the fourth refused');
  assert.deepEqual(fourth.errors, [
    [
      {
        message: 'this connection already runs 3 operations (REALTIME_GRAPHQL_MAX_OPERATIONS_PER_CONNECTION); complete one first or open another connection',
        extensions: { path: '$', code: 'operation-limit-exceeded' },
      },
    ],
  ]);
  live[0]?.stop();
  await waitFor(async () => {
    const again = record(client, 'subscription { authors(where: {id: {_eq: 5}}) { name } }');
    await waitFor(() => again.results.length > 0 || again.errors.length > 0, 'an answer');
    return again.results.length > 0;
  }, 'room for one more once one completed');
  await env.db.pool.query(`UPDATE authors SET name = 'renamed' WHERE id = 2`);
  await waitFor(() => live[1]?.results.at(-1)?.data?.['authors'] !== undefined && JSON.stringify(live[1]?.results.at(-1)).includes('renamed'), 'the others still live');
  assert.deepEqual(client.closes, []);
  await client.dispose();

  const legacy = await rawSocket(env.server, ['graphql-ws']);
  legacy.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${await hasuraToken('u', env.role)}` } } });
  for (const id of ['1', '2', '3', '4']) legacy.send({ type: 'start', id, payload: { query: `subscription { authors(where: {id: {_eq: ${id}}}) { id } }` } });
  await waitFor(() => legacy.frames.some((frame) => frame.id === '4'), 'the fourth answered');
  assert.equal(legacy.frames.find((frame) => frame.id === '4')?.type, 'error');
  assert.match(JSON.stringify(legacy.frames.find((frame) => frame.id === '4')), /operation-limit-exceeded/);
  legacy.ws.close();
});

test('malformed frames get the protocol close codes (graphql-transport-ws) or error frames (graphql-ws), and the server keeps serving', async () => {
  const token = await hasuraToken('u', env.role);
  const cases: [string, unknown][] = [
    ['not JSON', '{"type": "subscribe", '],
    ['no type', { id: '1' }],
    ['a type that is not a string', { type: 7 }],
    ['an unknown type', { type: 'explode' }],
    ['a numeric id', { type: 'subscribe', id: 1, payload: { query: '{ authors(limit: 1) { id } }' } }],
    ['a query that is not a string', { type: 'subscribe', id: '1', payload: { query: { nested: true } } }],
    ['JSON nested too deep', `{"type": "subscribe", "id": "1", "payload": {"query": "{ authors { id } }", "variables": {"v": ${'['.repeat(1000)}${']'.repeat(1000)}}}}`],
    ['a huge id', { type: 'subscribe', id: 'i'.repeat(100_000), payload: { query: '{ authors(limit: 1) { id } }' } }],
  ];
  for (const [what, frame] of cases) {
    const socket = await rawSocket(env.server, ['graphql-transport-ws']);
    socket.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${token}` } } });
    await waitFor(() => socket.frames.some((received) => received.type === 'connection_ack'), 'connection_ack');
    socket.send(frame);
    const closed = await socket.closed;
    assert.equal(closed.code, 4400, what);
    assert.ok(Buffer.byteLength(closed.reason) <= 123, what);
  }
  const binary = await rawSocket(env.server, ['graphql-transport-ws']);
  binary.ws.send(Buffer.from([0, 1, 2]));
  assert.equal((await binary.closed).code, 4400);
  const oversized = await rawSocket(env.server, ['graphql-transport-ws']);
  oversized.ws.send('x'.repeat(2_000_000));
  assert.equal((await oversized.closed).code, 1009, 'a frame over REALTIME_MAX_FRAME_BYTES');

  const legacy = await rawSocket(env.server, ['graphql-ws']);
  legacy.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${token}` } } });
  await waitFor(() => legacy.frames.some((received) => received.type === 'connection_ack'), 'connection_ack');
  legacy.send('not json');
  legacy.send({ type: 'explode' });
  legacy.send({ type: 'start', id: 'i'.repeat(100_000), payload: { query: '{ authors(limit: 1) { id } }' } });
  legacy.send({ type: 'start', id: 'x', payload: 'not an object' });
  legacy.send({ type: 'start', id: 'ok', payload: { query: '{ authors(limit: 1, order_by: {id: asc}) { id } }' } });
  await waitFor(() => legacy.frames.some((received) => received.id === 'ok' && received.type === 'complete'), 'the good start answered');
  assert.deepEqual(
    legacy.frames.filter((received) => received.type === 'error').map((received) => (received.payload as { message?: string }).message),
    ['Message must be JSON-parseable.', 'unknown message type "explode"', 'start: "id" is longer than 256 characters', 'start needs a payload with a "query"'],
  );
  assert.deepEqual(legacy.frames.find((received) => received.id === 'ok' && received.type === 'data')?.payload, { data: { authors: [{ id: 1 }] } });
  legacy.ws.close();
  assert.equal(await (await fetch(`${env.server.url}/healthcheck`)).text(), 'ok');
});

test('per socket: operations past REALTIME_GRAPHQL_MAX_OPERATIONS_PER_SECOND are refused; a slow reader is closed with 4008 while another client gets every result', async (t) => {
  const tight = await startTestServer(env.db, {
    jwtSecret: JWT_SECRET,
    graphqlAdminSecret: ADMIN_SECRET,
    graphqlLimits: { ...LIMITS, maxOperationsPerConnection: 100, maxOperationsPerSecond: 5 },
    limits: { maxSendBufferBytes: 65_536 },
  });
  try {
    const token = await hasuraToken('u', env.role);
    const flood = await rawSocket(tight, ['graphql-transport-ws']);
    flood.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${token}` } } });
    await waitFor(() => flood.frames.some((frame) => frame.type === 'connection_ack'), 'connection_ack');
    for (let index = 0; index < 20; index++) flood.send({ type: 'subscribe', id: `q${index}`, payload: { query: '{ authors(limit: 1) { id } }' } });
    await waitFor(() => new Set(flood.frames.filter((frame) => frame.type === 'complete' || frame.type === 'error').map((frame) => frame.id)).size === 20, 'every id answered');
    const limited = flood.frames.filter((frame) => frame.type === 'error' && JSON.stringify(frame.payload).includes('"rate-limited"'));
    assert.ok(limited.length >= 10 && limited.length <= 15, `${limited.length} of 20 refused`);
    assert.equal(flood.ws.readyState, WebSocket.OPEN);
    flood.ws.close();

    const url = `${tight.url.replace('localhost', '127.0.0.1')}/v1/graphql`;
    const query = 'subscription { blobs { version pad } }';
    const healthy = wsClient(url, token);
    const healthyResults = record<{ blobs: { version: number }[] }>(healthy, query);
    const slow = await rawSocket(tight, ['graphql-transport-ws']);
    slow.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${token}` } } });
    await waitFor(() => slow.frames.some((frame) => frame.type === 'connection_ack'), 'connection_ack');
    slow.send({ type: 'subscribe', id: 'live', payload: { query } });
    await waitFor(() => slow.frames.some((frame) => frame.id === 'live'), 'the first result');
    slow.ws.pause();
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const updates = 120;
    for (let version = 1; version <= updates; version++) {
      await env.db.pool.query(`UPDATE blobs SET version = $1, pad = repeat(chr(65 + $1 % 26), 250000) WHERE id = 1`, [version]);
      await waitFor(() => healthyResults.results.at(-1)?.data?.blobs[0]?.version === version, `the healthy client at version ${version}`);
    }
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    slow.ws.resume();
    const closed = await slow.closed;
    assert.deepEqual(closed, { code: 4008, reason: 'slow consumer' });
    const sentToAll = updates * 250_000;
    t.diagnostic(`the slow reader received ${slow.bytes} bytes before its close; the healthy client ${updates} results of about 250000 bytes`);
    assert.ok(slow.bytes < sentToAll / 2, `the slow reader got ${slow.bytes} of ${sentToAll} bytes: the rest was never queued`);
    assert.deepEqual(healthy.closes, [], 'the healthy client is unaffected');
    await healthy.dispose();
  } finally {
    await tight.close();
  }
});

test('nested lists past REALTIME_GRAPHQL_MAX_RESULT_ROWS in all, or JSON past REALTIME_GRAPHQL_MAX_RESULT_BYTES, are an error naming the setting, never a cut result', async () => {
  // 100 posts, each with its author's 100 posts: every list is within REALTIME_GRAPHQL_MAX_ROWS, the result is 10,100 rows.
  const product = await postGraphQL(env.graphqlUrl, { query: '{ posts(limit: 100) { author { posts(limit: 100) { id } } } }' }, admin);
  assert.equal(product.status, 200);
  assert.equal(product.body.data, null);
  const error = onlyError(product.body);
  assert.equal(error.code, 'result-limit-exceeded');
  assert.match(
    error.message,
    /^the result has more than 1000 rows in all its lists \(REALTIME_GRAPHQL_MAX_RESULT_ROWS\), passed at posts\.\d+\.author\.posts; nested lists multiply/,
  );
  // 9 + 9 × 100 rows is within the bound and answered whole.
  const within = await postGraphQL(env.graphqlUrl, { query: '{ posts(limit: 9, order_by: {id: asc}) { author { posts(limit: 100) { id } } } }' }, admin);
  const posts = within.body.data?.['posts'] as { author: { posts: unknown[] } }[];
  assert.deepEqual(
    posts.map((post) => post.author.posts.length),
    Array(9).fill(100),
  );
  // Root fields count together.
  const together = await postGraphQL(
    env.graphqlUrl,
    { query: '{ a: posts(limit: 100) { author { posts(limit: 5) { id } } } b: posts(limit: 100) { author { posts(limit: 5) { id } } } }' },
    admin,
  );
  assert.equal(onlyError(together.body).code, 'result-limit-exceeded');

  // A stream's results count the same way: 20 posts with 100 posts each ends it with the error.
  const client = wsClient(env.graphqlUrl, await hasuraToken('u', env.role));
  const stream = record(client, 'subscription { posts_stream(batch_size: 20, cursor: {initial_value: {id: 0}}) { author { posts(limit: 100) { id } } } }');
  await waitFor(() => stream.done || stream.errors.length > 0, 'the stream ended');
  assert.deepEqual(
    stream.results.map((result) => [result.data ?? null, result.errors?.map((error) => (error.extensions as { code: string }).code)]),
    [[null, ['result-limit-exceeded']]],
  );
  await client.dispose();

  const small = await postGraphQL(env.graphqlUrl, { query: '{ wide { id } }' }, admin);
  assert.deepEqual(small.body, { data: { wide: [{ id: 1 }] } });
  const large = await postGraphQL(env.graphqlUrl, { query: '{ wide { id pad } }' }, admin);
  assert.deepEqual(large.body.errors, [
    {
      message: 'the result is larger than 2000000 bytes of JSON (REALTIME_GRAPHQL_MAX_RESULT_BYTES), passed at wide; select fewer rows or columns',
      extensions: { code: 'result-limit-exceeded', path: '$.wide' },
    },
  ]);
  assert.equal(large.body.data, null);
});

test('a _stream more than REALTIME_GRAPHQL_MAX_STREAM_BACKLOG inserted rows behind ends with an error and completes; a stream within it goes on', async () => {
  const client = wsClient(env.graphqlUrl, await hasuraToken('u', env.role));
  try {
    const { rows } = await env.db.pool.query<{ max: number }>('SELECT max(id) AS max FROM posts');
    const cursor = Number(rows[0]?.max);
    const stream = record<{ posts_stream: { id: number }[] }>(client, `subscription { posts_stream(batch_size: 10, cursor: {initial_value: {id: ${cursor}}}) { id } }`);
    await env.db.pool.query(`INSERT INTO posts (author_id, title) VALUES (2, 'one')`);
    await waitFor(() => stream.results.length === 1, 'the first new row');
    assert.deepEqual(stream.results[0]?.data, { posts_stream: [{ id: cursor + 1 }] });
    await env.db.pool.query(`INSERT INTO posts (author_id, title) SELECT 2, 'burst ' || n FROM generate_series(1, 1000) AS n`);
    await waitFor(
      () => stream.done || stream.errors.length > 0,
      () => `the stream ended (results: ${stream.results.length})`,
    );
    assert.deepEqual(stream.errors, []);
    const last = stream.results.at(-1);
    assert.deepEqual(
      last?.errors?.map((error) => [error.message, (error.extensions as { code: string }).code]),
      [
        [
          'the stream fell more than 50 inserted or updated rows behind (REALTIME_GRAPHQL_MAX_STREAM_BACKLOG) and was ended; subscribe again from the last cursor value received',
          'stream-backlog-exceeded',
        ],
      ],
    );
    assert.deepEqual(client.closes, [], 'the socket stays open');
    const again = await postGraphQL(env.graphqlUrl, { query: '{ posts_aggregate { aggregate { count } } }' }, admin);
    assert.deepEqual(again.body, { data: { posts_aggregate: { aggregate: { count: 1151 } } } });
  } finally {
    await client.dispose();
  }
});

test('REALTIME_MAX_CONNECTIONS bounds Supabase-protocol and GraphQL sockets together (503 for one more of either); REALTIME_GRAPHQL_MAX_REQUESTS_PER_SECOND answers POSTs over it with 429', async () => {
  const bounded = await startTestServer(env.db, {
    jwtSecret: JWT_SECRET,
    graphqlAdminSecret: ADMIN_SECRET,
    limits: { maxConnections: 2 },
    graphqlLimits: { ...LIMITS, maxRequestsPerSecond: 5 },
  });
  try {
    const base = bounded.url.replace('localhost', '127.0.0.1').replace(/^http/, 'ws');
    const apikey = await token('supabase-user');
    const supabaseSocket = new WebSocket(`${base}/realtime/v1/websocket?vsn=2.0.0&apikey=${apikey}`);
    await new Promise((resolve, reject) => supabaseSocket.once('open', resolve).once('error', reject));
    const graphqlSocket = await rawSocket(bounded, ['graphql-transport-ws']);
    const refusal = { status: 503, body: { error: 'the server holds its most connections, 2 (REALTIME_MAX_CONNECTIONS); retry later' } };
    assert.deepEqual(await upgrade(bounded, '/v1/graphql', { 'sec-websocket-protocol': 'graphql-transport-ws' }), refusal);
    assert.deepEqual(await upgrade(bounded, `/realtime/v1/websocket?vsn=2.0.0&apikey=${apikey}`), refusal);
    supabaseSocket.close();
    const reopened = await waitFor(() => rawSocket(bounded, ['graphql-transport-ws']).catch(() => undefined), 'a GraphQL socket in the slot the closed Supabase socket freed');
    assert.equal(reopened.ws.readyState, WebSocket.OPEN);
    assert.equal(graphqlSocket.ws.readyState, WebSocket.OPEN);
    reopened.ws.close();
    graphqlSocket.ws.close();

    const url = `${bounded.url.replace('localhost', '127.0.0.1')}/v1/graphql`;
    const user = { Authorization: `Bearer ${await hasuraToken('busy', env.role)}` };
    const answers = await Promise.all(Array.from({ length: 8 }, () => postGraphQL(url, { query: '{ authors(limit: 1, order_by: {id: asc}) { id } }' }, user)));
    const limited = answers.filter((answer) => answer.status === 429);
    assert.equal(limited.length, 3, JSON.stringify(answers.map((answer) => answer.status)));
    assert.deepEqual(limited[0]?.body, {
      errors: [
        {
          message: 'more than 5 GraphQL requests in a second from this caller (REALTIME_GRAPHQL_MAX_REQUESTS_PER_SECOND); retry later',
          extensions: { code: 'rate-limited', path: '$' },
        },
      ],
    });
    const other = await postGraphQL(url, { query: '{ authors(limit: 1, order_by: {id: asc}) { id } }' }, { Authorization: `Bearer ${await hasuraToken('calm', env.role)}` });
    assert.deepEqual(other, { status: 200, body: { data: { authors: [{ id: 1 }] } } }, 'another user has its own bound');
    const batcher = { Authorization: `Bearer ${await hasuraToken('batcher', env.role)}` };
    const item = { query: '{ authors(limit: 1, order_by: {id: asc}) { id } }' };
    assert.equal((await postGraphQL(url, [item, item, item], batcher)).status, 200);
    const batch = await postGraphQL(url, [item, item, item], batcher);
    assert.equal(batch.status, 429, 'each request of a batch counts');
  } finally {
    await bounded.close();
  }
});

type Frame = { type: string; id?: string; payload?: unknown };

/** A raw socket on the GraphQL path of `server`; its frames, received bytes and close are recorded. */
async function rawSocket(
  server: RunningServer,
  protocols: string[],
): Promise<{ ws: WebSocket; frames: Frame[]; bytes: number; closed: Promise<{ code: number; reason: string }>; send(frame: unknown): void }> {
  const ws = new WebSocket(`${server.url.replace('localhost', '127.0.0.1').replace(/^http/, 'ws')}/v1/graphql`, protocols);
  const socket = {
    ws,
    frames: [] as Frame[],
    bytes: 0,
    closed: new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
    send: (frame: unknown) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
  };
  ws.on('message', (data: Buffer) => {
    socket.bytes += data.byteLength;
    socket.frames.push(JSON.parse(data.toString()) as Frame);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return socket;
}
