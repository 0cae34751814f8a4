// Both GraphQL WebSocket subprotocols frame by frame: choice by Sec-WebSocket-Protocol, close codes, errors, keep-alive, and the in-band token update.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { hasuraToken, useGraphQLServer } from './support.js';
import { sleep, waitFor } from '../helpers/wait.js';

const env = useGraphQLServer(
  (role) => `
    CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);
    GRANT USAGE ON SCHEMA public TO ${role};
    GRANT SELECT ON items TO ${role};
    INSERT INTO items (name) VALUES ('first');
  `,
);

type Frame = { type: string; id?: string; payload?: Record<string, unknown> & { data?: unknown; errors?: { message: string }[] } };

/** A raw socket on the GraphQL path asking for `protocols`; its frames and its close are recorded. */
async function open(protocols: string[]): Promise<{ ws: WebSocket; frames: Frame[]; closed: Promise<{ code: number; reason: string }>; send(frame: unknown): void }> {
  const ws = new WebSocket(env.graphqlUrl.replace(/^http/, 'ws'), protocols);
  const frames: Frame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Frame));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, frames, closed, send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)) };
}

async function initialised(protocols: string[], token: string) {
  const socket = await open(protocols);
  socket.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${token}` } } });
  await waitFor(() => socket.frames.some((frame) => frame.type === 'connection_ack'), 'connection_ack');
  return socket;
}

test('the subprotocol is chosen by Sec-WebSocket-Protocol: graphql-transport-ws when asked for, else the legacy graphql-ws', async () => {
  const both = await open(['graphql-ws', 'graphql-transport-ws']);
  const legacy = await open(['graphql-ws']);
  assert.equal(both.ws.protocol, 'graphql-transport-ws');
  assert.equal(legacy.ws.protocol, 'graphql-ws');
  both.ws.close();
  legacy.ws.close();
});

test('graphql-transport-ws close codes: 4401 subscribe before the ack, 4429 a second init, 4409 a duplicate id, 4400 a frame that is not JSON', async () => {
  const early = await open(['graphql-transport-ws']);
  early.send({ type: 'subscribe', id: '1', payload: { query: '{ items { id } }' } });
  assert.deepEqual(await early.closed, { code: 4401, reason: 'Unauthorized' });

  const token = await hasuraToken('u', env.role);
  const twice = await initialised(['graphql-transport-ws'], token);
  twice.send({ type: 'connection_init', payload: {} });
  assert.deepEqual(await twice.closed, { code: 4429, reason: 'Too many initialisation requests' });

  const duplicate = await initialised(['graphql-transport-ws'], token);
  duplicate.send({ type: 'subscribe', id: 'a', payload: { query: 'subscription { items { id } }' } });
  duplicate.send({ type: 'subscribe', id: 'a', payload: { query: 'subscription { items { id } }' } });
  assert.deepEqual(await duplicate.closed, { code: 4409, reason: 'Subscriber for a already exists' });

  const garbage = await initialised(['graphql-transport-ws'], token);
  garbage.send('not json');
  assert.equal((await garbage.closed).code, 4400);
});

test('graphql-transport-ws: ping gets pong; a bad query gets an error frame and the socket stays usable; a query gets next then complete', async () => {
  const socket = await initialised(['graphql-transport-ws'], await hasuraToken('u', env.role));
  socket.send({ type: 'ping' });
  await waitFor(() => socket.frames.some((frame) => frame.type === 'pong'), 'pong');
  socket.send({ type: 'subscribe', id: 'bad', payload: { query: '{ items { nope } }' } });
  socket.send({ type: 'subscribe', id: 'two', payload: { query: 'subscription { a: items { id } b: items { id } }' } });
  socket.send({ type: 'subscribe', id: 'ok', payload: { query: '{ items { name } }' } });
  await waitFor(() => socket.frames.filter((frame) => frame.id !== undefined).length >= 4, 'the answers');
  const byId = (id: string) => socket.frames.filter((frame) => frame.id === id).map((frame) => [frame.type, frame.payload]);
  assert.deepEqual(byId('bad'), [
    ['error', [{ message: 'Cannot query field "nope" on type "items". Did you mean "name"?', extensions: { path: '$', code: 'validation-failed' } }]],
  ]);
  assert.deepEqual(byId('two'), [['error', [{ message: 'Anonymous Subscription must select only one top level field.', extensions: { path: '$', code: 'validation-failed' } }]]]);
  assert.deepEqual(byId('ok'), [
    ['next', { data: { items: [{ name: 'first' }] } }],
    ['complete', undefined],
  ]);
  assert.equal(socket.ws.readyState, WebSocket.OPEN);
  socket.ws.close();
});

test('in-band token update (graphql-transport-ws): a ping carrying a newer token for the same user keeps the socket open past the old expiry; another user is refused', async () => {
  const socket = await initialised(['graphql-transport-ws'], await hasuraToken('u', env.role, { expiresInSeconds: 2 }));
  socket.send({ type: 'subscribe', id: 'live', payload: { query: 'subscription { items(order_by: {id: asc}) { name } }' } });
  await waitFor(() => socket.frames.some((frame) => frame.id === 'live'), 'the first result');
  socket.send({ type: 'ping', payload: { headers: { Authorization: `Bearer ${await hasuraToken('someone-else', env.role)}` } } });
  socket.send({ type: 'ping', payload: { headers: { Authorization: `Bearer ${await hasuraToken('u', env.role, { expiresInSeconds: 600 })}` } } });
  await waitFor(() => socket.frames.filter((frame) => frame.type === 'pong').length === 2, 'both pongs');
  const [refused, accepted] = socket.frames.filter((frame) => frame.type === 'pong').map((frame) => frame.payload);
  assert.deepEqual(refused, { token: 'refused', message: 'the new token is for another role, user or session variables; open a new connection for it' });
  assert.equal(accepted?.['token'], 'accepted');
  assert.ok(Number(accepted?.['expires_at']) > Date.now() / 1000 + 500);
  await sleep(2_500);
  assert.equal(socket.ws.readyState, WebSocket.OPEN, 'the socket outlived the first token');
  await env.db.pool.query(`INSERT INTO items (name) VALUES ('second')`);
  await waitFor(() => socket.frames.filter((frame) => frame.id === 'live').length === 2, 'a live result after the old expiry');
  socket.ws.close();
  await env.db.pool.query(`DELETE FROM items WHERE name = 'second'`);
});

test('legacy graphql-ws: connection_error and 4400 for an expired token; ack, ka, data, error, stop/complete, and a repeated connection_init as the token update', async () => {
  const expired = await open(['graphql-ws']);
  expired.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${await hasuraToken('u', env.role, { expiresInSeconds: -1 })}` } } });
  assert.deepEqual(await expired.closed, { code: 4400, reason: 'Connection initialization failed: Could not verify JWT: JWTExpired' });
  assert.deepEqual(expired.frames, [{ type: 'connection_error', payload: { message: 'Connection initialization failed: Could not verify JWT: JWTExpired' } }]);

  const socket = await initialised(['graphql-ws'], await hasuraToken('u', env.role));
  assert.deepEqual(
    socket.frames.slice(0, 2).map((frame) => frame.type),
    ['connection_ack', 'ka'],
  );
  socket.send({ type: 'start', id: '1', payload: { query: 'subscription { items { name } }' } });
  socket.send({ type: 'start', id: '2', payload: { query: '{ items { nope } }' } });
  await waitFor(() => socket.frames.some((frame) => frame.id === '1') && socket.frames.some((frame) => frame.id === '2'), 'data and error');
  assert.deepEqual(
    socket.frames.find((frame) => frame.id === '1'),
    { type: 'data', id: '1', payload: { data: { items: [{ name: 'first' }] } } },
  );
  assert.equal(socket.frames.find((frame) => frame.id === '2')?.type, 'error');
  socket.send({ type: 'stop', id: '1' });
  await waitFor(() => socket.frames.some((frame) => frame.id === '1' && frame.type === 'complete'), 'complete after stop');
  socket.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${await hasuraToken('u', env.role, { expiresInSeconds: 900 })}` } } });
  await waitFor(() => socket.frames.filter((frame) => frame.type === 'connection_ack').length === 2, 'the second ack');
  socket.send({ type: 'connection_terminate' });
  assert.equal((await socket.closed).code, 1000);
});
