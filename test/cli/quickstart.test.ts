// The seed's Quick Start steps 1, 3, 4 and 5, pasted as written with `npx nself`, print what the seed shows.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { REPO_ROOT, type CliResult } from '../helpers/cli.js';
import { parseTable } from './support.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

/** Runs one line of shell exactly as a user would paste it, from the repository root. */
function paste(line: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', line], { cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: db.url }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function pasteOk(line: string): Promise<string> {
  const result = await paste(line);
  assert.equal(result.code, 0, `${line}\n${result.stderr}`);
  assert.equal(result.stderr, '', line);
  return result.stdout;
}

test('step 1: init creates the realtime schema', async () => {
  assert.match(await pasteOk('npx nself realtime init'), /^Created the realtime schema to version \d+\./);
});

test('step 3: create a public, a private and a presence channel', async () => {
  assert.match(await pasteOk('npx nself realtime channel create "general" public'), /^Created public channel "general" \(slug general, id [0-9a-f-]{36}\)\.\n$/);
  assert.match(await pasteOk('npx nself realtime channel create "support" private'), /^Created private channel "support"/);
  assert.match(await pasteOk('npx nself realtime channel create "lobby" presence'), /^Created presence channel "lobby"/);
  const list = parseTable(await pasteOk('npx nself realtime channel list'));
  assert.deepEqual(list.columns, ['id', 'slug', 'name', 'type', 'members', 'online', 'created_at']);
  assert.deepEqual(
    list.rows.map((row) => [row.slug, row.type]),
    [
      ['general', 'public'],
      ['support', 'private'],
      ['lobby', 'presence'],
    ],
  );
});

test('step 4: broadcast a message, get recent messages, replay since a timestamp', async () => {
  assert.match(
    await pasteOk(`npx nself realtime broadcast general user.joined '{"user_id": "123", "name": "John Doe"}'`),
    /^Broadcast user\.joined to channel "general" at offset 1 /,
  );
  const messages = parseTable(await pasteOk('npx nself realtime messages general 50'));
  assert.deepEqual(messages.columns, ['offset', 'event_type', 'sender', 'payload', 'sent_at']);
  assert.deepEqual(
    messages.rows.map((row) => [row.offset, row.event_type, row.payload]),
    [['1', 'user.joined', '{"name": "John Doe", "user_id": "123"}']],
  );
  const replayed = parseTable(await pasteOk('npx nself realtime replay general 1643723400'));
  assert.deepEqual(replayed.rows, messages.rows);
  const iso = parseTable(await pasteOk('npx nself realtime replay general "2026-01-30T10:00:00Z"'));
  assert.equal(iso.rows.length, Date.now() > Date.parse('2026-01-30T10:00:00Z') ? 1 : 0);
  const json = JSON.parse(await pasteOk('npx nself realtime replay general 1643723400 json'));
  assert.deepEqual(
    json.map((m: { offset: number; payload: unknown }) => [m.offset, m.payload]),
    [[1, { user_id: '123', name: 'John Doe' }]],
  );
});

test('step 5: track presence, list and count online users, set the user offline', async () => {
  assert.equal(await pasteOk('npx nself realtime presence track user-123 general online'), 'user-123 is online in channel "general".\n');
  const online = parseTable(await pasteOk('npx nself realtime presence online general'));
  assert.deepEqual(online.columns, ['user_id', 'channel', 'status', 'metadata', 'last_seen_at', 'seconds_ago']);
  assert.deepEqual(
    online.rows.map((row) => [row.user_id, row.channel, row.status, row.metadata]),
    [['user-123', 'general', 'online', '{}']],
  );
  assert.equal(await pasteOk('npx nself realtime presence count general'), '1\n');
  assert.equal(await pasteOk('npx nself realtime presence offline user-123 general'), 'user-123 is offline in channel "general".\n');
  assert.equal(await pasteOk('npx nself realtime presence count general'), '0\n');
});
