// The seed's Quick Start steps 1, 3, 4 and 5, pasted as written with `npx nself`, print what the seed shows; the README's Table changes
// section, pasted line by line from README.md, works on a database that has none of its tables.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { REPO_ROOT, type CliResult } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { parseTable } from './support.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

/** Starts one line of shell as a user would paste it, from the repository root, in its own process group. */
function startPasted(line: string): ChildProcess {
  return spawn('bash', ['-c', line], { cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: db.url }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
}

/** Runs one line of shell exactly as a user would paste it, from the repository root. */
function paste(line: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = startPasted(line);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
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

/** The shell lines of the README's section under `## heading`: every line of its `sh` blocks, in order, blank lines left out. */
async function readmeShellLines(heading: string): Promise<string[]> {
  const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README.md has a "## ${heading}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((block) => (block[1] ?? '').split('\n').filter((line) => line.trim() !== ''));
}

test("the README's Table changes section, pasted as written, makes the tables it needs, subscribes them and prints an insert as it says", async () => {
  await pasteOk('npx nself realtime init');
  const lines = await readmeShellLines('Table changes');
  assert.ok(
    lines.some((line) => line.includes('CREATE TABLE')),
    'the section makes its tables',
  );
  let listener: { child: ChildProcess; output: () => string } | undefined;
  try {
    for (const line of lines) {
      const shown = /^# listen prints: (.*)$/.exec(line);
      if (shown) {
        assert.ok(listener, `"${line}" follows a listen line`);
        const expected = new RegExp(`^${(shown[1] ?? '').split('…').map(escapeRegExp).join('.*?')}$`, 'm');
        const running = listener;
        await waitFor(
          () => expected.test(running.output()),
          () => `listen printing ${expected}; it printed:\n${running.output()}`,
        );
      } else if (line.startsWith('#')) {
        continue;
      } else if (/ listen /.test(line)) {
        const child = startPasted(line);
        let output = '';
        child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
        listener = { child, output: () => output };
        await waitFor(
          () => output.includes('Listening to public.users'),
          () => `listen starting; it printed:\n${output}`,
          30_000,
        );
      } else {
        await pasteOk(line);
      }
    }
    assert.ok(listener, 'the section listens');
  } finally {
    const child = listener?.child;
    if (child?.pid !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('close', resolve));
      process.kill(-child.pid, 'SIGINT');
      await exited;
    }
  }
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
