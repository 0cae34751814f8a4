// `_stream` subscriptions: every row past the cursor exactly once, while concurrent writers commit out of order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasuraToken, insertAsWriters, record, useGraphQLServer, wsClient } from './support.js';
import { sleep, waitFor } from '../helpers/wait.js';

const env = useGraphQLServer(
  (role) => `
    CREATE TABLE messages (id bigserial PRIMARY KEY, writer int NOT NULL, body text NOT NULL);
    CREATE TABLE other (id serial PRIMARY KEY);
    CREATE TABLE docs (id int PRIMARY KEY, rev int NOT NULL, body text NOT NULL);
    INSERT INTO docs VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c');
    GRANT USAGE ON SCHEMA public TO ${role};
    GRANT SELECT ON messages, docs TO ${role};
    INSERT INTO messages (writer, body) SELECT 0, 'before ' || n FROM generate_series(1, 2000) AS n;
  `,
);

const WRITERS = 8;
const ROWS = 10_000;

test(`a _stream of ${ROWS} rows from ${WRITERS} concurrent writers committing out of order: every row once, each result at most batch_size rows`, async (t) => {
  const client = wsClient(env.graphqlUrl, await hasuraToken('reader', env.role));
  try {
    const stream = record<{ messages_stream: { id: number; writer: number }[] }>(
      client,
      `subscription Feed($batch: Int!) {
        messages_stream(batch_size: $batch, cursor: {initial_value: {id: 0}, ordering: ASC}, where: {writer: {_neq: -1}}) { id writer }
      }`,
      { batch: 100 },
    );
    const received = () => stream.results.flatMap((result) => result.data?.messages_stream ?? []);
    const receivedAll = async () => {
      const { rows } = await env.db.pool.query<{ count: string }>('SELECT count(*) FROM messages');
      const expected = Number(rows[0]?.count);
      await waitFor(
        () => received().length >= expected || stream.errors.length > 0 || stream.results.some((result) => result.errors),
        () => `${expected} rows (received ${received().length})`,
        60_000,
      );
    };
    // Half the rows commit while the rows already there are being read (the seam between the two), the other half once the stream is live.
    await insertAsWriters(env.db.url, WRITERS, ROWS / 2);
    await receivedAll();
    const live = received().length;
    await insertAsWriters(env.db.url, WRITERS, ROWS / 2);
    await env.db.pool.query('INSERT INTO other DEFAULT VALUES');
    await receivedAll();
    await sleep(200);
    assert.deepEqual(stream.errors, []);
    assert.deepEqual(
      stream.results.flatMap((result) => result.errors ?? []),
      [],
    );
    const ids = received().map((row) => Number(row.id));
    const { rows } = await env.db.pool.query<{ id: string }>('SELECT id FROM messages ORDER BY id');
    assert.equal(rows.length, 2_000 + ROWS);
    assert.equal(new Set(ids).size, ids.length, 'no row was sent twice');
    assert.deepEqual(
      [...ids].sort((a, b) => a - b),
      rows.map((row) => Number(row.id)),
      'every row was sent',
    );
    assert.ok(
      stream.results.every((result) => (result.data?.messages_stream.length ?? 0) <= 100),
      'no result holds more than batch_size rows',
    );
    assert.deepEqual(
      ids.slice(0, 2_000),
      rows.slice(0, 2_000).map((row) => Number(row.id)),
      'the rows already there come first, in cursor order',
    );
    const overtaken = ids.filter((id, index) => index > live && id < (ids[index - 1] as number)).length;
    t.diagnostic(`${overtaken} live rows arrived after a row with a greater id (their writers committed later): a cursor on the column alone would have skipped them`);
    assert.ok(overtaken > 0, 'the writers committed out of order at least once, so the test covers that case');
  } finally {
    await client.dispose();
  }
});

test('a _stream sends nothing for rows before the initial cursor value and stops on complete', async () => {
  const client = wsClient(env.graphqlUrl, await hasuraToken('reader', env.role));
  try {
    const { rows } = await env.db.pool.query<{ max: string }>('SELECT max(id) FROM messages');
    const last = Number(rows[0]?.max);
    const stream = record<{ messages_stream: { id: number }[] }>(client, `subscription { messages_stream(batch_size: 10, cursor: {initial_value: {id: ${last}}}) { id } }`);
    const { rows: inserted } = await env.db.pool.query<{ id: string }>(`INSERT INTO messages (writer, body) VALUES (9, 'after') RETURNING id`);
    await waitFor(() => stream.results.length === 1, 'the new row');
    assert.deepEqual(stream.results[0]?.data, { messages_stream: [{ id: Number(inserted[0]?.id) }] });
    stream.stop();
    await env.db.pool.query(`INSERT INTO messages (writer, body) VALUES (9, 'not sent')`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(stream.results.length, 1, 'nothing after complete');
  } finally {
    await client.dispose();
  }
});

test('a _stream sends a row updated past the furthest cursor value sent, as Hasura does; updates that leave the cursor behind are not sent', async () => {
  const client = wsClient(env.graphqlUrl, await hasuraToken('reader', env.role));
  try {
    const stream = record<{ docs_stream: { id: number; rev: number; body: string }[] }>(
      client,
      'subscription { docs_stream(batch_size: 10, cursor: {initial_value: {rev: 0}, ordering: ASC}) { id rev body } }',
    );
    await waitFor(() => stream.results.length === 1, 'the rows already there');
    // One transaction: its changes reach the stream together and are still read in commit order.
    await env.db.pool.query(`BEGIN;
      UPDATE docs SET body = 'edited' WHERE id = 1; -- the cursor does not move: not sent for itself
      UPDATE docs SET rev = 10, body = 'moved' WHERE id = 1; -- past 3: sent
      INSERT INTO docs VALUES (4, 11, 'new');
      UPDATE docs SET rev = 12 WHERE id = 3;
      COMMIT`);
    await waitFor(
      () => stream.results.length >= 4,
      () => `the moved, inserted and moved rows (results: ${JSON.stringify(stream.results)})`,
    );
    await env.db.pool.query('UPDATE docs SET rev = 5 WHERE id = 2'); // past its old value, not past 12: not sent
    await env.db.pool.query("UPDATE docs SET rev = 13, body = 'last' WHERE id = 2");
    await waitFor(
      () => stream.results.length >= 5,
      () => `the last move (results: ${JSON.stringify(stream.results)})`,
    );
    await sleep(300);
    assert.deepEqual(
      stream.results.map((result) => result.data?.docs_stream),
      [
        [
          { id: 1, rev: 1, body: 'a' },
          { id: 2, rev: 2, body: 'b' },
          { id: 3, rev: 3, body: 'c' },
        ],
        [{ id: 1, rev: 10, body: 'moved' }],
        [{ id: 4, rev: 11, body: 'new' }],
        [{ id: 3, rev: 12, body: 'c' }],
        [{ id: 2, rev: 13, body: 'last' }],
      ],
    );
  } finally {
    await client.dispose();
  }
});
