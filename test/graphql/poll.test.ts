// REALTIME_GRAPHQL_LIVE_QUERIES=poll: live queries re-run once a second, as Hasura does, and send only results that changed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasuraToken, nthResult, record, useGraphQLServer, wsClient } from './support.js';
import { sleep } from '../helpers/wait.js';

const env = useGraphQLServer(
  (role) => `
    CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);
    CREATE VIEW wall_clock AS SELECT floor(extract(epoch FROM clock_timestamp()))::int AS second;
    GRANT USAGE ON SCHEMA public TO ${role};
    GRANT SELECT ON notes, wall_clock TO ${role};
  `,
  { graphqlLiveQueries: 'poll' },
);

test('poll mode: a write shows within about a second, a view no change reaches (the clock) updates every second, and an unchanged result is not sent again', async () => {
  const client = wsClient(env.graphqlUrl, await hasuraToken('ann', env.role));
  try {
    const notes = record<{ notes: { body: string }[] }>(client, 'subscription { notes(order_by: {id: asc}) { body } }');
    const clock = record<{ wall_clock: { second: number }[] }>(client, 'subscription { wall_clock { second } }');
    assert.deepEqual((await nthResult(notes, 1, 'the first result')).data, { notes: [] });
    await nthResult(clock, 1, "the clock's first result");
    await env.db.pool.query(`INSERT INTO notes (body) VALUES ('polled')`);
    const written = Date.now();
    assert.deepEqual((await nthResult(notes, 2, 'the result after the INSERT')).data, { notes: [{ body: 'polled' }] });
    assert.ok(Date.now() - written < 1_500, `the new result came ${Date.now() - written} ms after the commit, expected within one poll (1 s)`);
    const clockResults = clock.results.length;
    await sleep(2_300);
    assert.equal(notes.results.length, 2, 'an unchanged result is not sent again');
    assert.ok(clock.results.length >= clockResults + 2, `the clock view sent ${clock.results.length - clockResults} new results in 2.3 s, expected one a second`);
  } finally {
    await client.dispose();
  }
});
