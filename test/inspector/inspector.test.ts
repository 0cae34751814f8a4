// The inspector in headless Chromium: channels made by the CLI, a live tail fed by supabase-js, presence, and its refusal without a service-role token.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { realtime } from '../helpers/cli.js';
import { useTestServer } from '../helpers/server.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { launchBrowser } from '../react/browser.js';
import { subscribe, supabase } from '../server/support.js';

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** The cells of the channels table's row for `slug`, or undefined while it is not shown. */
async function channelRow(page: Page, slug: string): Promise<string[] | undefined> {
  const row = page.locator(`#channels tr[data-channel="${slug}"]`);
  return (await row.count()) === 1 ? row.locator('td').allTextContents() : undefined;
}

/** The live entries of the tail, and the stored ones above them. */
const tailEntries = (page: Page) => page.locator('#tail li').allTextContents();
const historyEntries = (page: Page) => page.locator('#tail-history li').allTextContents();

describe('in development mode', () => {
  const env = useTestServer();
  let page: Page;
  before(async () => {
    page = await browser.newPage();
    await page.goto(`${env.server.url}/inspector`);
  });

  test('shows a channel created by the CLI, with its type, members and online count', async () => {
    const created = await realtime(['channel', 'create', 'ops-room', 'presence'], { databaseUrl: env.db.url });
    assert.equal(created.code, 0, created.stderr);
    assert.equal((await realtime(['channel', 'join', 'ops-room', 'alice'], { databaseUrl: env.db.url })).code, 0);
    await waitFor(async () => (await channelRow(page, 'ops-room'))?.[2] === '1', 'the channel to be listed with its member', 5_000);
    assert.deepEqual(await channelRow(page, 'ops-room'), ['ops-room', 'presence', '1', '0', '0', '0']);
    assert.equal(await page.locator('#status').textContent(), 'live');
  });

  test('tails a channel: stored messages first, then a supabase-js broadcast within a second', async (t) => {
    const client = supabase(env.server);
    t.after(() => client.removeAllChannels());
    const sender = client.channel('ops-room', { config: { broadcast: { ack: true } } });
    assert.equal((await subscribe(sender)).status, 'SUBSCRIBED');
    assert.equal(await sender.send({ type: 'broadcast', event: 'deploy', payload: { version: 1 } }), 'ok');

    await page.locator('#channels tr[data-channel="ops-room"]').click();
    await waitFor(async () => (await historyEntries(page)).length === 1, 'the stored message above the live tail', 5_000);
    assert.deepEqual(await historyEntries(page), ['storeddeploy#1{"version":1}']);
    assert.deepEqual(await tailEntries(page), []);

    const sentAt = Date.now();
    assert.equal(await sender.send({ type: 'broadcast', event: 'deploy', payload: { version: 2 } }), 'ok');
    await waitFor(async () => (await tailEntries(page)).some((entry) => entry.endsWith('deploy#2{"version":2}')), 'the live broadcast in the tail', 1_000);
    const elapsed = Date.now() - sentAt;
    assert.ok(elapsed < 1_000, `shown after ${elapsed} ms`);
    assert.equal((await tailEntries(page)).length, 1);
    assert.deepEqual(await historyEntries(page), ['storeddeploy#1{"version":1}']);
    await waitFor(async () => (await channelRow(page, 'ops-room'))?.[5] === '2', 'the offset to reach 2', 3_000);
    assert.notEqual((await channelRow(page, 'ops-room'))?.[4], '0', 'a message rate');
  });

  test('shows the presence of two clients, then clears it when they leave', async (t) => {
    const clients = ['alice', 'bob'].map((name) => ({ name, client: supabase(env.server) }));
    t.after(() => Promise.all(clients.map(({ client }) => client.removeAllChannels())));
    const channels = clients.map(({ name, client }) => client.channel('ops-room', { config: { presence: { key: name } } }));
    for (const [index, channel] of channels.entries()) {
      assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
      assert.equal(await channel.track({ name: clients[index]?.name }), 'ok');
    }
    await waitFor(async () => (await page.locator('#tail-present').textContent()) === 'present: alice, bob', 'both clients present in the tail', 3_000);
    const joins = (await tailEntries(page)).filter((entry) => /join(alice|bob)/.test(entry));
    assert.equal(joins.length, 2, joins.join(' | '));
    assert.ok(joins.some((entry) => entry.includes('[{"name":"alice"}]')));
    await waitFor(async () => (await channelRow(page, 'ops-room'))?.[3] === '2', 'the online count to reach 2', 3_000);

    for (const { client } of clients) await client.removeAllChannels();
    await waitFor(async () => (await page.locator('#tail-present').textContent()) === 'nobody present', 'the presence to clear', 3_000);
    assert.equal((await tailEntries(page)).filter((entry) => /leave(alice|bob)/.test(entry)).length, 2);
    await waitFor(async () => (await channelRow(page, 'ops-room'))?.[3] === '0', 'the online count to fall to 0', 3_000);
  });

  test('lists this page’s own connection with the channel it tails', async () => {
    await waitFor(async () => (await page.locator('#connections td').allTextContents()).includes('ops-room'), 'the connection that tails ops-room', 3_000);
  });
});

describe('with a JWT secret', () => {
  const env = useTestServer({ jwtSecret: JWT_SECRET });

  test('refuses the inspector’s data without a service-role token', async () => {
    const state = (authorization?: string) => fetch(`${env.server.url}/inspector/api/state`, { headers: authorization ? { authorization } : {} });
    const missing = await state();
    assert.equal(missing.status, 401);
    assert.match(((await missing.json()) as { error: string }).error, /needs a valid service-role token/);
    const user = await state(`Bearer ${await token('alice')}`);
    assert.equal(user.status, 403);
    assert.match(((await user.json()) as { error: string }).error, /this token's role is "authenticated"/);
    assert.equal((await state(`Bearer ${await token(undefined, { role: 'service_role' })}`)).status, 200);
  });

  test('the page asks for a token, shows the refusal, then opens with a service-role token and tails a private channel with it', async () => {
    const page = await browser.newPage();
    await page.goto(`${env.server.url}/inspector`);
    await waitFor(async () => await page.locator('#login').isVisible(), 'the token form', 5_000);
    assert.match((await page.locator('#refusal').textContent()) ?? '', /needs a valid service-role token/);
    assert.equal(await page.locator('#panels').isVisible(), false);
    assert.equal(await page.locator('#status').textContent(), 'refused');

    await page.locator('#token').fill(await token('alice'));
    await page.locator('#login button').click();
    await waitFor(async () => /role is "authenticated"/.test((await page.locator('#refusal').textContent()) ?? ''), 'the refusal of a user token', 5_000);

    await page.locator('#token').fill(await token(undefined, { role: 'service_role' }));
    await page.locator('#login button').click();
    await waitFor(async () => await page.locator('#panels').isVisible(), 'the panels', 5_000);
    assert.equal(await page.locator('#status').textContent(), 'live');

    // The live tail joins with the same token: a private channel's broadcasts reach it.
    assert.equal((await realtime(['channel', 'create', 'secured', 'private'], { databaseUrl: env.db.url })).code, 0);
    await waitFor(async () => (await channelRow(page, 'secured')) !== undefined, 'the private channel to be listed', 5_000);
    await page.locator('#channels tr[data-channel="secured"]').click();
    await waitFor(async () => (await page.locator('#connections td').allTextContents()).includes('secured'), 'the tail to join the private channel', 5_000);
    const sent = await fetch(`${env.server.url}/api/broadcast/secured/events/alert`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token(undefined, { role: 'service_role' })}`, 'content-type': 'application/json' },
      body: JSON.stringify({ level: 'high' }),
    });
    assert.equal(sent.status, 202);
    await waitFor(async () => (await tailEntries(page)).some((entry) => entry.endsWith('alert#1{"level":"high"}')), 'the private broadcast in the tail', 3_000);
    await page.close();
  });
});
