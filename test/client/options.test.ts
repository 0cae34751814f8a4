// The client's options and wire frames: URLs built from the seed's bare address, clear errors, frames the server reads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RealtimeClient, RealtimeError } from '@nself/client';
import { decodeBroadcast, decodeBroadcastPush, encodeBroadcast, encodeBroadcastPush } from '@nself/protocol';

/** The URL the client opens for `address`, captured by a transport that records it. */
async function urlOf(address: string, apiKey?: string): Promise<string> {
  const opened: string[] = [];
  class RecordingSocket {
    binaryType = '';
    readyState = 0;
    onopen = null;
    onclose = null;
    onerror = null;
    onmessage = null;
    constructor(url: string) {
      opened.push(url);
    }
    send(): void {}
    close(): void {}
  }
  const client = new RealtimeClient({ url: address, apiKey, transport: RecordingSocket });
  client.connect();
  await new Promise((resolve) => setTimeout(resolve, 20));
  await client.disconnect();
  return opened[0] ?? '';
}

test('a bare ws://host:port reaches /realtime/v1/websocket with the api key and protocol version', async () => {
  assert.equal(await urlOf('ws://localhost:3100', 'your-api-key'), 'ws://localhost:3100/realtime/v1/websocket?apikey=your-api-key&vsn=2.0.0');
});

test('a path is kept and gets /websocket, and http(s) becomes ws(s)', async () => {
  assert.equal(await urlOf('https://example.com/realtime/v1'), 'wss://example.com/realtime/v1/websocket?vsn=2.0.0');
  assert.equal(await urlOf('ws://127.0.0.1:4000/socket/websocket'), 'ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0');
});

test('bad options are refused with a message naming the option and what is accepted', () => {
  assert.throws(
    () => new RealtimeClient({ url: 'localhost:3100' }),
    (error: unknown) => {
      assert.ok(error instanceof RealtimeError);
      assert.equal(error.code, 'INVALID_ARGUMENT');
      assert.match(error.message, /scheme localhost:; expected ws:, wss:, http: or https:/);
      return true;
    },
  );
  assert.throws(() => new RealtimeClient({ url: 'not a url' }), /url "not a url" is not a URL; expected one like ws:\/\/localhost:3100/);
  assert.throws(() => new RealtimeClient({ url: 'ws://localhost:3100', timeoutMs: -5 }), /timeoutMs must be a positive number/);
  assert.throws(() => new RealtimeClient({ url: 'ws://localhost:3100', maxQueuedSends: 0 }), /maxQueuedSends must be a positive number/);
});

test('bad channel calls are refused with a message saying what is expected', async () => {
  const client = new RealtimeClient({ url: 'ws://127.0.0.1:9' });
  assert.throws(() => client.channel(''), /a channel needs a name/);
  const channel = client.channel('general');
  assert.throws(() => channel.on('presence', { event: 'arrive' } as never, () => undefined), /presence listeners need \{ event: 'join' \| 'leave' \| 'sync' \}, got "arrive"/);
  assert.throws(() => channel.send({ type: 'message', event: 'x' } as never), /send\(\) takes \{ type: 'broadcast', event, payload \}, got type "message"/);
  assert.throws(() => channel.send({ type: 'broadcast', event: '' }), /send\(\) needs an event name of 1 to 255 bytes/);
  assert.throws(() => channel.track([] as never), /track\(\) takes a JSON object/);
  await client.disconnect();
});

test('a postgres_changes filter the server could not read is refused when the listener is added, naming the problem', async () => {
  const client = new RealtimeClient({ url: 'ws://127.0.0.1:9' });
  const channel = client.channel('todos');
  assert.throws(
    () => channel.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'todos', filter: 'priority=likes.3' }, () => undefined),
    (error: unknown) =>
      error instanceof RealtimeError &&
      error.code === 'INVALID_ARGUMENT' &&
      /^postgres_changes listener: Error parsing `filter` params: unknown operator "likes" in "priority=likes\.3"; expected column=op\.value/.test(error.message),
  );
  channel.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'todos', filter: 'status=in.(open,"on hold")' }, () => undefined);
  await client.disconnect();
});

test('the client channel returns the same object for the same name until it is unsubscribed', async () => {
  const client = new RealtimeClient({ url: 'ws://127.0.0.1:9' });
  const first = client.channel('general');
  assert.equal(client.channel('general'), first);
  await first.unsubscribe();
  assert.notEqual(client.channel('general'), first);
  await client.disconnect();
});

test('kind-3 pushes the client encodes decode on the server side to the same broadcast', () => {
  const json = encodeBroadcastPush({ joinRef: '6', ref: '7', topic: 'realtime:room1', event: 'hello', meta: {}, payload: { a: 1 } });
  assert.equal(Buffer.from(json).toString('hex'), '0301010e050001' + Buffer.from('67realtime:room1hello{"a":1}').toString('hex'));
  assert.deepEqual(decodeBroadcastPush(json), { joinRef: '6', ref: '7', topic: 'realtime:room1', event: 'hello', meta: {}, payload: { a: 1 } });
  const bytes = encodeBroadcastPush({ joinRef: '6', ref: '8', topic: 'realtime:room1', event: 'blob', meta: {}, payload: new Uint8Array([1, 2, 3]) });
  assert.deepEqual(decodeBroadcastPush(bytes).payload, new Uint8Array([1, 2, 3]));
  assert.throws(
    () => encodeBroadcastPush({ joinRef: '6', ref: '9', topic: 'realtime:room1', event: 'e'.repeat(300), meta: {}, payload: {} }),
    /broadcast event is 300 bytes; at most 255 fit/,
  );
});

test('kind-4 broadcasts the server encodes decode on the client side, offset included', () => {
  const frame = encodeBroadcast({ topic: 'realtime:room1', event: 'hello', payload: { a: 1 }, meta: { id: 'abc', offset: 42 } });
  assert.deepEqual(decodeBroadcast(frame), { topic: 'realtime:room1', event: 'hello', payload: { a: 1 }, meta: { id: 'abc', offset: 42 } });
  assert.throws(() => decodeBroadcast(new Uint8Array([3, 0, 0, 0, 1])), /binary frame kind 3 is not supported; expected 4/);
});
