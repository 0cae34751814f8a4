// Conformance: values on the wire as hosted Supabase sends them: exact int8 and numeric digits (table changes and broadcasts stored by SQL), timestamptz in UTC.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { RawClient } from './raw-client.js';
import { realtime } from '../helpers/cli.js';
import { useTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

for (const capture of ['auto', 'trigger'] as const) {
  const path = capture === 'auto' ? 'the path the database allows' : 'the trigger path';
  const env = useTestServer({ capture }, async (db) => {
    // The database's own time zone is not UTC, and the writer below picks yet another one.
    await db.pool.query(`ALTER DATABASE ${pg.escapeIdentifier(new URL(db.url).pathname.slice(1))} SET timezone TO 'America/New_York'`);
    await db.pool.query('CREATE TABLE ledger (id int8 PRIMARY KEY, amount numeric, ratio float8, at timestamptz, day timestamp, ids int8[])');
    await db.pool.query('CREATE TABLE keyless (body text)');
    await db.pool.query('CREATE TABLE documents (id int PRIMARY KEY, title text, body text, note text)');
  });

  /** Joins `realtime:<topic>` for the INSERTs of `table` and waits until the subscription is live. */
  async function watchLedger(topic: string, table = 'ledger'): Promise<RawClient> {
    const client = await RawClient.open(env.server);
    const reply = await client.join(`realtime:${topic}`, '1', { postgres_changes: [{ event: 'INSERT', schema: 'public', table }] });
    assert.equal(reply[4]['status'], 'ok');
    await client.expect((frame) => frame[3] === 'system' && frame[4]['message'] === 'Subscribed to PostgreSQL', 'the subscription to be live');
    return client;
  }

  /** Inserts rows as a writer in Tokyo's time zone. */
  async function insertFromTokyo(sql: string): Promise<void> {
    const writer = new pg.Client({ connectionString: env.db.url });
    await writer.connect();
    try {
      await writer.query("SET TimeZone = 'Asia/Tokyo'");
      await writer.query(sql);
    } finally {
      await writer.end();
    }
  }

  test(`${path}: an int8 beyond 2^53, a long numeric and an int8 array arrive with their exact digits on the wire`, async () => {
    const client = await watchLedger(`exact-${capture}`);
    try {
      await insertFromTokyo(`INSERT INTO ledger (id, amount, ratio, ids) VALUES
        (9007199254740993, 12345678901234567890.123456789, 0.1, ARRAY[9223372036854775807, -9223372036854775808, 5])`);
      await client.expect((frame) => frame[3] === 'postgres_changes', 'the change');
      const text = client.texts.find((frame) => frame.includes('"postgres_changes",{"ids"')) ?? '';
      const record = /"record":(\{[^}]*\})/.exec(text)?.[1];
      assert.ok(record, `a record in ${text}`);
      assert.match(record, /"id":9007199254740993[,}]/, '2^53 + 1 is not rounded to …992');
      assert.match(record, /"amount":12345678901234567890\.123456789[,}]/);
      assert.match(record, /"ratio":0\.1[,}]/);
      assert.match(record, /"ids":\[9223372036854775807,-9223372036854775808,5\]/);
    } finally {
      await client.close();
    }
  });

  if (capture === 'auto') {
    test('a broadcast stored by SQL with an int8 beyond 2^53 keeps its digits on the wire, in REST history and in the CLI', async () => {
      const client = await RawClient.open(env.server);
      try {
        const reply = await client.join('realtime:ledger-news', '1', { broadcast: { self: false } });
        assert.equal(reply[4]['status'], 'ok');
        await env.db.pool.query(`SELECT realtime.broadcast('ledger-news', 'posted', '{"id": 9007199254740993, "amount": 12345678901234567890.5}'::jsonb)`);
        await client.expect((frame) => frame[3] === 'broadcast', 'the broadcast');
        const wire = client.texts.find((frame) => frame.includes('"posted"')) ?? '';
        assert.match(wire, /"id":9007199254740993[,}]/, `2^53 + 1 is not rounded to …992 on the wire: ${wire}`);
        assert.match(wire, /"amount":12345678901234567890\.5[,}]/);

        const history = await (await fetch(`${env.server.url}/api/channels/ledger-news/messages`)).text();
        assert.match(history, /"id":9007199254740993[,}]/, `REST history keeps the digits: ${history}`);

        const table = await realtime(['messages', 'ledger-news', '1'], { databaseUrl: env.db.url });
        assert.match(table.stdout, /"id": 9007199254740993[,}]/, table.stdout + table.stderr);
        const json = await realtime(['messages', 'ledger-news', '1', '--json'], { databaseUrl: env.db.url });
        assert.match(json.stdout, /"id": 9007199254740993[,\n]/, json.stdout + json.stderr);
      } finally {
        await client.close();
      }
    });
  }

  test(`${path}: timestamptz values arrive in UTC whatever the writer's and the database's time zones; timestamp values as written`, async () => {
    const client = await watchLedger(`utc-${capture}`);
    try {
      await insertFromTokyo(`INSERT INTO ledger (id, at, day) VALUES (1, '2026-01-02 03:04:05.678901+00', '2026-01-02 03:04:05')`);
      const frame = await client.expect((candidate) => candidate[3] === 'postgres_changes', 'the change');
      const record = (frame[4]['data'] as { record: Record<string, unknown> }).record;
      assert.equal(record['at'], '2026-01-02T03:04:05.678901+00:00');
      assert.equal(record['day'], '2026-01-02T03:04:05');
    } finally {
      await client.close();
    }
  });

  test(`${path}: an INSERT into a table without a primary key carries Error 400 and no values, as hosted`, async () => {
    const client = await watchLedger(`keyless-${capture}`, 'keyless');
    try {
      await insertFromTokyo("INSERT INTO keyless (body) VALUES ('secret-ish')");
      const frame = await client.expect((candidate) => candidate[3] === 'postgres_changes', 'the change');
      const data = frame[4]['data'] as { record: Record<string, unknown>; errors: string[] | null; type: string };
      assert.equal(data.type, 'INSERT');
      assert.deepEqual(data.errors, ['Error 400: Bad Request, no primary key']);
      assert.deepEqual(data.record, {});
    } finally {
      await client.close();
    }
  });

  test(`${path}: a change over 1 MiB carries Error 413 and only its values of 64 bytes or less, as hosted`, async () => {
    const client = await watchLedger(`large-${capture}`, 'documents');
    try {
      await insertFromTokyo(`INSERT INTO documents (id, title, body) VALUES (7, 'Short title', repeat('x', 1100000))`);
      await insertFromTokyo(`INSERT INTO documents (id, title, body) VALUES (8, 'Fits', repeat('y', 1000))`);
      await waitFor(() => client.frames.filter((frame) => frame[3] === 'postgres_changes').length === 2, 'both changes');
      const [large, fits] = client.frames
        .filter((frame) => frame[3] === 'postgres_changes')
        .map((frame) => frame[4]['data'] as { record: Record<string, unknown>; errors: string[] | null });
      assert.deepEqual(large?.errors, ['Error 413: Payload Too Large']);
      assert.deepEqual(large?.record, { id: 7, title: 'Short title' });
      assert.equal(fits?.errors, null);
      assert.equal((fits?.record['body'] as string).length, 1000);
    } finally {
      await client.close();
    }
  });
}
