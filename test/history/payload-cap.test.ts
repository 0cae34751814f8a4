// The database caps every stored broadcast's payload, whichever way it comes (SQL, CLI, server), with an error naming size and limit.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { appendMessages, createChannel, type Channel } from '@nself/db';
import { realtime } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
let channel: Channel;

before(async () => {
  db = await createTestDatabase({ migrated: true });
  channel = await createChannel(db.pool, { name: 'capped' });
});
after(async () => {
  await db.drop();
});

async function stored(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM realtime.messages WHERE channel_id = $1', [channel.id]);
  return rows[0]?.n ?? 0;
}

const OVER_LIMIT = /^payload of (\d+) bytes is over the limit of 262144 bytes$/;

test('realtime.broadcast refuses a payload over 262144 bytes with SQLSTATE 22023, and stores one under it', async () => {
  const big = JSON.stringify({ blob: 'x'.repeat(300_000) });
  await assert.rejects(db.pool.query("SELECT realtime.broadcast('capped', 'big', $1::jsonb)", [big]), (error: Error & { code?: string }) => {
    assert.equal(error.code, '22023');
    const size = OVER_LIMIT.exec(error.message)?.[1];
    assert.ok(size && Number(size) > 300_000, error.message);
    return true;
  });
  assert.equal(await stored(), 0);
  await db.pool.query("SELECT realtime.broadcast('capped', 'fits', $1::jsonb)", [JSON.stringify({ blob: 'x'.repeat(250_000) })]);
  assert.equal(await stored(), 1);
});

test('a binary payload over the limit is refused too, and a batch with one oversized message stores none of it', async () => {
  await assert.rejects(db.pool.query("SELECT realtime.append_message($1, 'bin', NULL, NULL, $2)", [channel.id, Buffer.alloc(262_145)]), {
    code: '22023',
    message: 'payload of 262145 bytes is over the limit of 262144 bytes',
  });
  const before = await stored();
  await assert.rejects(
    appendMessages(db.pool, channel.id, [
      { id: randomUUID(), event: 'a', payload: { n: 1 } },
      { id: randomUUID(), event: 'b', payload: { blob: 'y'.repeat(270_000) } },
    ]),
    { code: '22023' },
  );
  assert.equal(await stored(), before, 'all or nothing');
});

test('the CLI cannot store a 20 MB payload', async () => {
  const result = await realtime(['broadcast', 'capped', 'huge', '-'], { databaseUrl: db.url, input: JSON.stringify({ blob: 'z'.repeat(20 * 1024 * 1024) }) });
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /262144 bytes/);
  const { rows } = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM realtime.messages WHERE event_type = 'huge'");
  assert.equal(rows[0]?.n, 0);
});

test('an operator may raise the limit for the database with the setting realtime.max_payload_bytes', async () => {
  await db.pool.query(`ALTER DATABASE ${pg.escapeIdentifier(new URL(db.url).pathname.slice(1))} SET realtime.max_payload_bytes = '400000'`);
  // Sessions started after the change have the new limit.
  const session = new pg.Client({ connectionString: db.url });
  await session.connect();
  try {
    const { rows } = await session.query<{ limit: number }>('SELECT realtime.max_payload_bytes() AS limit');
    assert.equal(rows[0]?.limit, 400_000);
    await session.query("SELECT realtime.broadcast('capped', 'raised', $1::jsonb)", [JSON.stringify({ blob: 'x'.repeat(300_000) })]);
  } finally {
    await session.end();
  }
});
