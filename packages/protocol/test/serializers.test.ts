// Unit tests of the wire serializers against frames captured from realtime-js.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bindingId, decodeBroadcastPush, decodeText, encodeBroadcast, encodeText, JoinError, MalformedMessageError, subTopicOf } from '../src/index.js';

const hex = (text: string) => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

test('V2 text frames decode from and encode to [join_ref, ref, topic, event, payload]', () => {
  const message = decodeText('["6","6","realtime:room1","phx_join",{"config":{}}]', '2.0.0');
  assert.deepEqual(message, { joinRef: '6', ref: '6', topic: 'realtime:room1', event: 'phx_join', payload: { config: {} } });
  assert.equal(
    encodeText({ joinRef: null, ref: '10', topic: 'phoenix', event: 'phx_reply', payload: { status: 'ok', response: {} } }, '2.0.0'),
    '[null,"10","phoenix","phx_reply",{"status":"ok","response":{}}]',
  );
});

test('V2 accepts arrays with extra elements and numeric refs', () => {
  const message = decodeText('[null,9,"phoenix","heartbeat",{},"extra"]', '2.0.0');
  assert.equal(message.ref, '9');
  assert.equal(message.joinRef, null);
});

test('V1 frames are objects, and the server never writes join_ref in them', () => {
  const message = decodeText('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"9"}', '1.0.0');
  assert.deepEqual(message, { joinRef: null, ref: '9', topic: 'phoenix', event: 'heartbeat', payload: {} });
  const text = encodeText({ joinRef: '6', ref: '7', topic: 'realtime:room1', event: 'phx_reply', payload: { status: 'ok', response: {} } }, '1.0.0');
  assert.equal(text, '{"topic":"realtime:room1","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"7"}');
});

test('malformed text frames are rejected with a reason', () => {
  for (const [frame, reason] of [
    ['not json', /not valid JSON/],
    ['[1,2,3]', /5 elements/],
    ['42', /neither/],
    ['[null,null,7,"x",{}]', /topic must be a string/],
    ['[null,null,"t","",{}]', /event must be a non-empty string/],
    ['[{},null,"t","e",{}]', /join_ref must be a string/],
  ] as const) {
    assert.throws(
      () => decodeText(frame, '2.0.0'),
      (error: Error) => error instanceof MalformedMessageError && reason.test(error.message),
      frame,
    );
  }
});

test('kind-3 broadcast push decodes the captured JSON frame', () => {
  const frame = hex('0301010e050001 36 37 7265616c74696d653a726f6f6d31 68656c6c6f 7b2261223a317d');
  assert.deepEqual(decodeBroadcastPush(frame), {
    joinRef: '6',
    ref: '7',
    topic: 'realtime:room1',
    event: 'hello',
    meta: {},
    payload: { a: 1 },
  });
});

test('kind-3 broadcast push keeps raw bytes for encoding 0', () => {
  const frame = hex('0301010e050000 36 37 7265616c74696d653a726f6f6d31 68656c6c6f 010203');
  const push = decodeBroadcastPush(frame);
  assert.deepEqual(push.payload, new Uint8Array([1, 2, 3]));
});

test('truncated or foreign binary frames are rejected', () => {
  assert.throws(() => decodeBroadcastPush(hex('0301')), /shorter than its header/);
  assert.throws(() => decodeBroadcastPush(hex('0401010e050001')), /kind 4 is not supported/);
  assert.throws(() => decodeBroadcastPush(hex('0301010e050001 36')), /shorter than its field lengths/);
  assert.throws(() => decodeBroadcastPush(hex('0300000000000209')), /encoding 2/);
  assert.throws(() => decodeBroadcastPush(hex('030000000000017b')), /payload is not valid JSON/);
});

test('kind-4 broadcast encodes the captured layout', () => {
  const frame = encodeBroadcast({ topic: 'realtime:room1', event: 'hello', payload: { a: 1 }, meta: { id: 'abc' } });
  const expected = Buffer.concat([Buffer.from([4, 14, 5, 12, 1]), Buffer.from('realtime:room1hello{"id":"abc"}{"a":1}')]);
  assert.deepEqual(Buffer.from(frame), expected);
  const binary = encodeBroadcast({ topic: 't', event: 'e', payload: new Uint8Array([9]) });
  assert.deepEqual([...binary], [4, 1, 1, 0, 0, 116, 101, 9]);
});

test('binding ids are stable numbers that differ per binding', () => {
  const a = bindingId({ event: 'INSERT', schema: 'public', table: 'todos' });
  assert.equal(typeof a, 'number');
  assert.equal(a, bindingId({ event: 'INSERT', schema: 'public', table: 'todos' }));
  assert.notEqual(a, bindingId({ event: 'INSERT', schema: 'public', table: 'todos', filter: 'id=eq.1' }));
});

test('topics map to channel names and error texts match the hosted server', () => {
  assert.equal(subTopicOf('realtime:room:1'), 'room:1');
  assert.equal(subTopicOf('REALTIME:x'), 'x');
  assert.equal(subTopicOf('phoenix'), undefined);
  assert.equal(JoinError.unauthorized('room1'), 'Unauthorized: You do not have permissions to read from this Channel topic: room1');
  assert.equal(JoinError.tokenExpired(3), 'InvalidJWTToken: Token has expired 3 seconds ago');
});
