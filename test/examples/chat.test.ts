// The chat example in headless Chromium: two pages chat and see each other's presence.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { REPO_ROOT } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { launchBrowser } from '../react/browser.js';
import { waitFor } from '../helpers/wait.js';
import { freePort, startServerProcess } from '../helpers/server-process.js';

let db: TestDatabase;
let example: ChildProcess;
let browser: Browser;
let siteUrl: string;

before(async () => {
  db = await createTestDatabase({ migrated: true });
  const port = await freePort();
  example = spawn(process.execPath, ['--conditions=nself-source', '--import', 'tsx', 'examples/chat/server.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATABASE_URL: db.url, CHAT_PORT: String(port), REALTIME_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  example.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  example.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor(() => /open http:\/\/localhost:\d+/.test(output) || example.exitCode !== null, `the example to start (output: ${output})`, 60_000);
  assert.equal(example.exitCode, null, `the example exited: ${output}`);
  siteUrl = `http://localhost:${port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (example && example.exitCode === null) {
    const exited = new Promise((resolve) => example.once('exit', resolve));
    example.kill('SIGTERM');
    await exited;
  }
  await db?.drop();
});

test('two browser pages join the room, see each other online, and chat', async () => {
  const alice = await browser.newPage();
  const bob = await browser.newPage();
  await alice.goto(`${siteUrl}/?name=alice`);
  await bob.goto(`${siteUrl}/?name=bob`);
  const online = (page: typeof alice) => page.locator('#online li').allTextContents();
  await waitFor(async () => (await online(alice)).length === 2 && (await online(bob)).length === 2, 'both names in both online lists');
  assert.deepEqual(await online(alice), ['alice', 'bob']);
  assert.equal(await bob.locator('#online-count').textContent(), '2');
  assert.equal(await alice.locator('#status').textContent(), 'joined');

  await alice.locator('#text').fill('Hi Bob, it works');
  await alice.locator('#composer button').click();
  await waitFor(async () => (await bob.locator('#messages li').allTextContents()).includes('aliceHi Bob, it works'), 'Bob to read it');
  await bob.locator('#text').fill('Hi Alice');
  await bob.locator('#text').press('Enter');
  await waitFor(async () => (await alice.locator('#messages li').allTextContents()).includes('bobHi Alice'), 'Alice to read the answer');
  assert.deepEqual(await alice.locator('#messages li').allTextContents(), ['aliceHi Bob, it works', 'bobHi Alice']);

  await bob.close();
  await waitFor(async () => (await online(alice)).length === 1, 'Bob to leave Alice’s online list');
  assert.deepEqual(await online(alice), ['alice']);
});

test('a page that reloads shows the room’s stored messages, oldest first, then live ones', async () => {
  const carol = await browser.newPage();
  await carol.goto(`${siteUrl}/?name=carol&room=history`);
  for (const text of ['first', 'second', 'third']) {
    await carol.locator('#text').fill(text);
    await carol.locator('#text').press('Enter');
    await waitFor(async () => (await carol.locator('#messages li').allTextContents()).includes(`carol${text}`), `"${text}" to be shown`);
  }
  await carol.reload();
  await waitFor(async () => (await carol.locator('#messages li').count()) === 3, 'the history to be shown after the reload');
  assert.deepEqual(await carol.locator('#messages li').allTextContents(), ['carolfirst', 'carolsecond', 'carolthird']);
  assert.deepEqual(await carol.locator('#messages li.history').count(), 3);

  const dave = await browser.newPage();
  await dave.goto(`${siteUrl}/?name=dave&room=history`);
  await waitFor(async () => (await dave.locator('#messages li').count()) === 3, 'a newcomer to see the history');
  await dave.locator('#text').fill('live');
  await dave.locator('#text').press('Enter');
  await waitFor(async () => (await carol.locator('#messages li').allTextContents()).includes('davelive'), 'the live message after the history');
  assert.deepEqual(await carol.locator('#messages li').allTextContents(), ['carolfirst', 'carolsecond', 'carolthird', 'davelive']);
  assert.equal(await carol.locator('#messages li.history').count(), 3);
  await carol.close();
  await dave.close();
});

test('with a realtime server already running on REALTIME_PORT (as after npm start), the example uses it instead of failing on the taken port', async () => {
  const realtime = await startServerProcess(db.url, await freePort());
  const chatPort = await freePort();
  const second = spawn(process.execPath, ['--conditions=nself-source', '--import', 'tsx', 'examples/chat/server.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATABASE_URL: db.url, CHAT_PORT: String(chatPort), REALTIME_PORT: String(realtime.port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  second.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  second.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    await waitFor(
      () => /open http:\/\/localhost:\d+/.test(output) || second.exitCode !== null,
      () => `the example to start (output: ${output})`,
      60_000,
    );
    assert.equal(second.exitCode, null, `the example exited: ${output}`);
    assert.match(output, new RegExp(`using the realtime server at ws://localhost:${realtime.port}`));
    const page = await (await fetch(`http://localhost:${chatPort}/`)).text();
    assert.match(page, new RegExp(`ws://localhost:${realtime.port}`), 'the page connects to the running server');
  } finally {
    const exited = new Promise((resolve) => second.once('exit', resolve));
    second.kill('SIGTERM');
    await exited;
    await realtime.stop();
  }
});
