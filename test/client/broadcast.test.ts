// Broadcasts through the client: bytes and JSON, self delivery, wildcard and Supabase-style listeners, refusals.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RealtimeError, type BroadcastMessage } from '@nself/client';
import { realtimeSuite, subscribed } from './support.js';
import { realtime } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

const suite = realtimeSuite();

test('bytes sent as an ArrayBuffer arrive as the same bytes; JSON arrives as JSON', async () => {
  const sender = suite.client();
  const receiver = suite.client();
  const received: Array<{ event: string; payload: unknown }> = [];
  await subscribed(receiver.channel('mixed').on('*', (payload, message) => received.push({ event: message.event, payload })));
  const channel = sender.channel('mixed');
  await channel.send({ type: 'broadcast', event: 'blob', payload: new Uint8Array([0, 1, 2, 250]).buffer });
  await channel.send({ type: 'broadcast', event: 'json', payload: { nested: { list: [1, 'two', null] } } });
  await waitFor(() => received.length === 2, 'both messages');
  assert.equal(received[0]!.event, 'blob');
  assert.deepEqual([...(received[0]!.payload as Uint8Array)], [0, 1, 2, 250]);
  assert.deepEqual(received[1], { event: 'json', payload: { nested: { list: [1, 'two', null] } } });
});

test('with self on I receive my own message, with its offset; the Supabase listener form gets the whole message', async () => {
  const client = suite.client();
  const envelopes: BroadcastMessage[] = [];
  const channel = client.channel('echo', { config: { broadcast: { self: true } } }).on('broadcast', { event: 'ping' }, (message) => envelopes.push(message));
  const receipt = await channel.send({ type: 'broadcast', event: 'ping', payload: { n: 1 } });
  await waitFor(() => envelopes.length === 1, 'my own message');
  assert.equal(envelopes[0]!.type, 'broadcast');
  assert.equal(envelopes[0]!.event, 'ping');
  assert.deepEqual(envelopes[0]!.payload, { n: 1 });
  assert.equal(envelopes[0]!.offset, receipt.offset);
  assert.equal(channel.lastOffset, receipt.offset);
});

test('a payload over the server limit is refused: send rejects with REFUSED and the server’s reason, nothing is stored', async () => {
  const client = suite.client();
  const channel = client.channel('big');
  await subscribed(channel);
  await assert.rejects(channel.send({ type: 'broadcast', event: 'huge', payload: { text: 'x'.repeat(300_000) } }), (error: unknown) => {
    assert.ok(error instanceof RealtimeError);
    assert.equal(error.code, 'REFUSED');
    assert.equal(error.message, 'sending "huge" on "big": payload_size_exceeded');
    return true;
  });
  const { rows } = await suite.server.db.pool.query("SELECT count(*)::int AS n FROM realtime.messages WHERE event_type = 'huge'");
  assert.deepEqual(rows, [{ n: 0 }]);
});

test('a channel left and asked for again at once is a new channel that joins and receives', async () => {
  const client = suite.client();
  const first = client.channel('again');
  await subscribed(first);
  const leaving = first.unsubscribe();
  const second = client.channel('again');
  assert.notEqual(second, first);
  const heard: unknown[] = [];
  second.on('note', (payload) => heard.push(payload));
  await leaving;
  await subscribed(second);
  await suite.server.db.pool.query(`SELECT realtime.broadcast('again', 'note', '{"n": 1}'::jsonb, NULL)`);
  await waitFor(() => heard.length === 1, 'the message on the new channel');
  assert.equal(first.state, 'closed');
});

test('a message the operator deletes reaches message_deleted listeners with its id and offset; broadcast listeners are not called', async () => {
  const client = suite.client();
  const deleted: Array<{ id: string; offset: number }> = [];
  const received: unknown[] = [];
  const channel = client
    .channel('moderated', { config: { broadcast: { self: true } } })
    .on('*', (payload) => received.push(payload))
    .on('message_deleted', (gone) => deleted.push(gone));
  await subscribed(channel);
  const receipt = await channel.send({ type: 'broadcast', event: 'oops', payload: { text: 'regret' } });
  await waitFor(() => received.length === 1, 'the message');
  const result = await realtime(['message', 'delete', 'moderated', String(receipt.offset)], { databaseUrl: suite.server.db.url });
  assert.equal(result.code, 0, result.stderr);
  await waitFor(() => deleted.length === 1, 'the deletion');
  assert.equal(deleted[0]!.offset, receipt.offset);
  assert.equal(typeof deleted[0]!.id, 'string');
  assert.equal(received.length, 1);
});

test('replay on the first join: the newest stored messages first, oldest first and marked replayed, then the live ones', async () => {
  const sender = suite.client();
  const outbound = sender.channel('replayed-room');
  for (let n = 1; n <= 4; n += 1) await outbound.send({ type: 'broadcast', event: 'note', payload: { n } });
  const client = suite.client();
  const heard: Array<{ n: unknown; replayed: boolean; offset: number | undefined }> = [];
  const channel = client.channel('replayed-room', { config: { broadcast: { replay: { since: 0, limit: 3 } } } });
  channel.on('note', (payload: { n: number }, message) => heard.push({ n: payload.n, replayed: message.replayed, offset: message.offset }));
  await subscribed(channel);
  await waitFor(() => heard.length === 3, 'the three newest stored messages');
  await outbound.send({ type: 'broadcast', event: 'note', payload: { n: 5 } });
  await waitFor(() => heard.length === 4, 'the live message');
  assert.deepEqual(heard, [
    { n: 2, replayed: true, offset: 2 },
    { n: 3, replayed: true, offset: 3 },
    { n: 4, replayed: true, offset: 4 },
    { n: 5, replayed: false, offset: 5 },
  ]);
  assert.equal(channel.lastOffset, 5);
});
