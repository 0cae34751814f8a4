// The README's server quick start, run as written: `npm start`, the pasted supabase-js snippet, a CLI broadcast.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { realtime, REPO_ROOT } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/database.js';
import { freePort, startServerProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

test('the README quick start: a pasted supabase-js snippet receives a broadcast sent with the CLI', async () => {
  const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Realtime server'));
  const snippet = section.match(/```js\n([\s\S]*?)```/)?.[1];
  const command = section.match(/^npx nself realtime broadcast (.+?)$/m)?.[1];
  assert.ok(snippet && command, 'the README has the snippet and the broadcast command');

  const db = await createTestDatabase();
  const port = await freePort();
  const server = await startServerProcess(db.url, port, {}, true);
  const file = path.join(REPO_ROOT, 'test', 'server', `.readme-listen-${process.pid}.mjs`);
  await writeFile(file, snippet.replaceAll('http://localhost:3100', `http://127.0.0.1:${port}`));
  const listener = spawn(process.execPath, [file], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  listener.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  try {
    await waitFor(() => output.includes('SUBSCRIBED'), 'the snippet to subscribe', 15_000);
    const words = [...command.matchAll(/'([^']*)'|(\S+)/g)].map((match) => match[1] ?? match[2] ?? '');
    const sent = await realtime(['broadcast', ...words], { databaseUrl: db.url });
    assert.equal(sent.code, 0, sent.stderr);
    await waitFor(() => output.includes('received user.joined {"user_id":"123"}'), 'the snippet to print the broadcast');
    listener.kill();
    await server.stop('SIGINT');
    const stopped = await fetch(`http://127.0.0.1:${port}/healthcheck`).then(
      () => false,
      () => true,
    );
    assert.ok(stopped, 'Ctrl+C stops the server started with npm start');
  } finally {
    listener.kill();
    await rm(file, { force: true });
    await server.stop('SIGINT');
    await db.drop();
  }
});
