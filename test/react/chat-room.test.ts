// React hooks in a real browser: the seed's ChatRoom under StrictMode against the real server and PostgreSQL.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { runCommand } from '../client/support.js';
import { launchBrowser, serveFiles } from './browser.js';
import { startTestRealtime, type TestRealtime } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let server: TestRealtime;
let browser: Browser;
let site: { url: string; close(): Promise<void> };

/** Counts the frames a page writes, by event, so the test can see joins and leaves. */
const COUNT_FRAMES = `
  window.__frames = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data === 'string') { try { const [, , topic, event] = JSON.parse(data); window.__frames.push(event + ' ' + topic); } catch {} }
    return send.call(this, data);
  };`;

before(async () => {
  server = await startTestRealtime();
  const bundle = await build({
    entryPoints: [path.join(here, 'chat-app.tsx')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    jsx: 'automatic',
    conditions: ['nself-source'],
    external: ['ws'],
    define: { 'process.env.NODE_ENV': '"development"' },
    logLevel: 'silent',
  });
  site = await serveFiles({
    '/': ['text/html', '<!doctype html><div id="root"></div><script type="module" src="/app.js"></script>'],
    '/app.js': ['text/javascript', bundle.outputFiles[0]!.text],
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await server?.close();
});

async function openRoom(user: string, extra = ''): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (error) => process.stderr.write(`page error (${user}): ${error.message}\n`));
  await page.addInitScript(COUNT_FRAMES);
  await page.goto(`${site.url}/?user=${user}&room=room-1&realtime=${encodeURIComponent(server.url)}${extra}`);
  return page;
}

const text = (page: Page, testId: string) => page.getByTestId(testId).textContent();
const frames = (page: Page, event: string) => page.evaluate((wanted) => (window as unknown as { __frames: string[] }).__frames.filter((frame) => frame === wanted).length, event);

test('two ChatRooms see each other online, exchange messages, and a StrictMode double mount joins once', async () => {
  const alice = await openRoom('alice');
  const bob = await openRoom('bob');
  await waitFor(async () => (await text(alice, 'online')) === 'Online: 2' && (await text(bob, 'online')) === 'Online: 2', 'both pages to show two people online');
  assert.equal(await text(alice, 'who'), 'alice,bob');
  assert.equal(await text(bob, 'status'), 'joined');

  await alice.getByTestId('draft').fill('Hello from Alice');
  await alice.getByTestId('send').click();
  await waitFor(async () => (await bob.locator('.message').allTextContents()).includes('Hello from Alice'), 'Bob to see the message');
  await waitFor(async () => (await alice.locator('.message').allTextContents()).includes('Hello from Alice'), 'Alice to see her own message');
  const stored = await server.db.pool.query("SELECT payload->>'text' AS text FROM realtime.messages WHERE event_type = 'message.sent'");
  assert.deepEqual(stored.rows, [{ text: 'Hello from Alice' }]);

  assert.equal(await frames(alice, 'phx_join realtime:room-1'), 1, 'StrictMode mounts twice, the channel joins once');
  assert.equal(await frames(bob, 'phx_join realtime:room-1'), 1);
});

test('unmounting the ChatRoom leaves the channel: the other page sees one person online', async () => {
  const carol = await openRoom('carol');
  const dave = await openRoom('dave');
  await waitFor(async () => (await text(dave, 'who'))?.includes('carol') === true, 'carol and dave online');
  await carol.getByTestId('toggle').click();
  await waitFor(async () => !(await text(dave, 'who'))?.includes('carol'), 'carol to have left');
  assert.equal(await frames(carol, 'phx_leave realtime:room-1'), 1);
  assert.ok(!(await text(dave, 'who'))?.includes('carol'));
});

test('useTableChanges lists the rows inserted into a subscribed table', async () => {
  await server.db.pool.query('CREATE TABLE public.notes (id serial PRIMARY KEY, body text NOT NULL)');
  await runCommand('ɳSelf realtime subscribe public.notes INSERT', server.db.url);
  const page = await openRoom('erin', '&table=public.notes');
  await waitFor(async () => (await text(page, 'table-status')) === 'joined', 'the table channel to join');
  await server.db.pool.query("INSERT INTO public.notes (body) VALUES ('first note'), ('second note')");
  await waitFor(async () => (await page.locator('.note').count()) === 2, 'both notes on the page');
  assert.deepEqual(await page.locator('.note').allTextContents(), ['first note', 'second note']);
});
