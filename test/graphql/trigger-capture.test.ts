// GraphQL live queries and streams on the trigger capture path (REALTIME_CAPTURE=trigger), as on the write-ahead log.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { followRoomOne, hasuraToken, insertAsWriters, nthResult, record, useGraphQLServer, wsClient } from './support.js';
import { waitFor } from '../helpers/wait.js';

const env = useGraphQLServer(
  (role) => `
    CREATE TABLE messages (id bigserial PRIMARY KEY, writer int NOT NULL, body text NOT NULL);
    CREATE TABLE chat (id serial PRIMARY KEY, room int NOT NULL, body text NOT NULL);
    GRANT USAGE ON SCHEMA public TO ${role};
    GRANT SELECT ON messages, chat TO ${role};
  `,
  { capture: 'trigger' },
);

test('trigger capture: a live query follows INSERT, UPDATE and DELETE, and a _stream of 2,000 rows from 4 writers has every row once', async () => {
  const client = wsClient(env.graphqlUrl, await hasuraToken('reader', env.role));
  try {
    const live = record<{ messages_aggregate: { aggregate: { count: number } } }>(client, 'subscription { messages_aggregate(where: {writer: {_eq: 0}}) { aggregate { count } } }');
    const stream = record<{ messages_stream: { id: number }[] }>(client, 'subscription { messages_stream(batch_size: 50, cursor: {initial_value: {id: 0}}) { id } }');
    assert.deepEqual((await nthResult(live, 1, 'the first count')).data, { messages_aggregate: { aggregate: { count: 0 } } });
    const { rows } = await env.db.pool.query<{ id: string }>(`INSERT INTO messages (writer, body) VALUES (0, 'a') RETURNING id`);
    assert.deepEqual((await nthResult(live, 2, 'the count after the insert')).data, { messages_aggregate: { aggregate: { count: 1 } } });
    await env.db.pool.query(`UPDATE messages SET writer = 9 WHERE id = $1`, [rows[0]?.id]);
    assert.deepEqual((await nthResult(live, 3, 'the count after the update')).data, { messages_aggregate: { aggregate: { count: 0 } } });
    await env.db.pool.query(`INSERT INTO messages (writer, body) VALUES (0, 'b')`);
    await nthResult(live, 4, 'the count after the second insert');
    await env.db.pool.query(`DELETE FROM messages WHERE writer = 0`);
    assert.deepEqual((await nthResult(live, 5, 'the count after the delete')).data, { messages_aggregate: { aggregate: { count: 0 } } });

    await insertAsWriters(env.db.url, 4, 2_000);
    const received = () => stream.results.flatMap((result) => result.data?.messages_stream ?? []).map((row) => Number(row.id));
    const { rows: all } = await env.db.pool.query<{ id: string }>('SELECT id FROM messages ORDER BY id');
    const expected = all.map((row) => Number(row.id));
    await waitFor(
      () => expected.every((id) => received().includes(id)) || stream.errors.length > 0,
      () => `every row (received ${received().length} of ${expected.length})`,
      60_000,
    );
    const ids = received();
    assert.equal(new Set(ids).size, ids.length, 'no row twice');
    // The row inserted and deleted before the stream read it is not sent; every row still there is.
    assert.deepEqual(
      ids.filter((id) => expected.includes(id)).sort((a, b) => a - b),
      expected,
    );
  } finally {
    await client.dispose();
  }
});

test('trigger capture logs whole old rows: a live query of room 1 runs on no write to room 2 (INSERT, UPDATE, DELETE) and follows rows into, out of and deleted from room 1', async () => {
  await followRoomOne(env, 'chat', 'whole');
});
