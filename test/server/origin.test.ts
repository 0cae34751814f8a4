// Web pages of other sites cannot use a development server: upgrades and REST requests whose Origin is
// not a page on localhost are refused with 403, unless REALTIME_ALLOWED_ORIGINS lists it.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { loadConfig, type RunningServer } from '@nself/server';
import { upgrade } from './support.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { startTestServer, useTestServer } from '../helpers/server.js';

const env = useTestServer({ jwtSecret: undefined });
const started: RunningServer[] = [];
after(async () => {
  for (const server of started) await server.close();
});

const WEBSOCKET = '/realtime/v1/websocket?vsn=2.0.0';
const EVIL = 'https://evil.example';

async function post(server: RunningServer, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${server.url}/api/broadcast`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ messages: [{ topic: 'origin-room', event: 'hello', payload: { from: headers['origin'] ?? 'none' } }] }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function storedFrom(): Promise<string[]> {
  const { rows } = await env.db.pool.query<{ from: string }>(
    `SELECT m.payload->>'from' AS from FROM realtime.messages m JOIN realtime.channels c ON c.id = m.channel_id
      WHERE c.slug = 'origin-room' ORDER BY m.channel_offset`,
  );
  return rows.map((row) => row.from);
}

test('development mode refuses a WebSocket upgrade from another site with 403 naming the origin and how to allow it', async () => {
  // A forged service_role token: development mode reads its claims unverified, which is why the page must be refused.
  const forged = await token('victim', { role: 'service_role', secret: 'anything' });
  for (const origin of [EVIL, 'http://localhost.evil.example', 'http://127.0.0.1.nip.io:3100', 'null', 'file://']) {
    const answer = await upgrade(env.server, `${WEBSOCKET}&apikey=${forged}`, { origin });
    assert.equal(answer.status, 403, origin);
    const error = (answer.body as { error: string }).error;
    assert.ok(error.includes(`Origin ${origin} is not allowed`), error);
    assert.match(error, /REALTIME_ALLOWED_ORIGINS/);
  }
});

test('pages on localhost, 127.0.0.1 and [::1] (any port, http or https) and clients without an Origin still connect', async () => {
  for (const origin of ['http://localhost:5173', 'https://localhost', 'http://127.0.0.1:8080', 'http://[::1]:3000']) {
    assert.equal((await upgrade(env.server, WEBSOCKET, { origin })).status, 101, origin);
  }
  assert.equal((await upgrade(env.server, WEBSOCKET)).status, 101, 'no Origin header');
});

test('development mode refuses REST requests from another site with 403 and stores nothing; local pages and Node callers are served', async () => {
  const refused = await post(env.server, { origin: EVIL });
  assert.equal(refused.status, 403);
  assert.match((refused.body as { error: string }).error, /Origin https:\/\/evil\.example is not allowed/);
  assert.equal((await post(env.server, { origin: 'http://localhost:5173' })).status, 202);
  assert.equal((await post(env.server, {})).status, 202);
  assert.deepEqual(await storedFrom(), ['http://localhost:5173', 'none']);
});

test('REALTIME_ALLOWED_ORIGINS admits the origins it lists, or any with *, and must list origins', async () => {
  const listed = await startTestServer(env.db, { jwtSecret: undefined, allowedOrigins: ['https://app.example'] });
  started.push(listed);
  assert.equal((await upgrade(listed, WEBSOCKET, { origin: 'https://app.example' })).status, 101);
  assert.equal((await upgrade(listed, WEBSOCKET, { origin: 'http://localhost:5173' })).status, 101, 'local pages still may');
  assert.equal((await upgrade(listed, WEBSOCKET, { origin: EVIL })).status, 403);
  const any = await startTestServer(env.db, { jwtSecret: undefined, allowedOrigins: ['*'] });
  started.push(any);
  assert.equal((await upgrade(any, WEBSOCKET, { origin: EVIL })).status, 101);

  assert.deepEqual(loadConfig({ REALTIME_ALLOWED_ORIGINS: ' https://App.example/ , http://localhost:5173,*' }).allowedOrigins, [
    'https://app.example',
    'http://localhost:5173',
    '*',
  ]);
  assert.throws(() => loadConfig({ REALTIME_ALLOWED_ORIGINS: 'app.example' }), /REALTIME_ALLOWED_ORIGINS entry "app.example" is not an origin/);
  assert.throws(() => loadConfig({ REALTIME_ALLOWED_ORIGINS: 'https://app.example/path' }), /is not an origin/);
});

test('with a JWT secret every origin may connect (tokens are verified), unless REALTIME_ALLOWED_ORIGINS lists which', async () => {
  const open = await startTestServer(env.db, { jwtSecret: JWT_SECRET });
  started.push(open);
  const signed = await token('alice');
  assert.equal((await upgrade(open, `${WEBSOCKET}&apikey=${signed}`, { origin: EVIL })).status, 101);
  const listed = await startTestServer(env.db, { jwtSecret: JWT_SECRET, allowedOrigins: ['https://app.example'] });
  started.push(listed);
  assert.equal((await upgrade(listed, `${WEBSOCKET}&apikey=${signed}`, { origin: 'https://app.example' })).status, 101);
  const refused = await upgrade(listed, `${WEBSOCKET}&apikey=${signed}`, { origin: EVIL });
  assert.equal(refused.status, 403);
  assert.match((refused.body as { error: string }).error, /not in REALTIME_ALLOWED_ORIGINS/);
});
