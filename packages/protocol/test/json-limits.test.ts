// Unit tests of the client JSON limits: depth, exact numbers, storable strings, and how decoders report them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkJsonText, decodeBroadcastPush, decodeText, encodeBroadcastPush, JsonValueError, numberProblem, RefusedPayloadError } from '../src/index.js';

const problemOf = (text: string): { path: string; problem: string } | undefined => {
  try {
    checkJsonText(text);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof JsonValueError);
    return { path: error.path, problem: error.problem };
  }
};

test('numbers are kept when a 64-bit float prints them back as the same number', () => {
  for (const token of [
    '0',
    '-0',
    '1.0',
    '1e2',
    '1E+21',
    '0.1',
    '-2.5e-8',
    '9007199254740991',
    '9007199254740992',
    '1.7976931348623157e308',
    '5e-324',
    '0e99999',
    '123456789012345',
  ]) {
    assert.equal(numberProblem(token), undefined, token);
  }
  assert.match(numberProblem('1e400')!, /^number 1e400 is beyond the range of a 64-bit float; send it as a string$/);
  assert.match(numberProblem('-1e400')!, /beyond the range/);
  assert.match(numberProblem('1e-400')!, /beyond the range/);
  assert.equal(numberProblem('9007199254740993'), 'number 9007199254740993 has more precision than a 64-bit float keeps (it would become 9007199254740992); send it as a string');
  assert.match(numberProblem('0.30000000000000001')!, /would become 0\.3\)/);
});

test('problems name their path; strings, escaped quotes and keys are never taken for numbers or brackets', () => {
  assert.deepEqual(problemOf('{"a":[1,{"b c":[2,1e400]}]}'), { path: '$.a[1]["b c"][1]', problem: 'number 1e400 is beyond the range of a 64-bit float; send it as a string' });
  assert.equal(problemOf('{"1e400":"[[[[ 12345678901234567890 \\" ]]", "x": [1.5, -3]}'), undefined);
  assert.equal(problemOf('"\\\\"'), undefined);
  assert.deepEqual(problemOf('["\\\\\\"",12345678901234567890]')?.path, '$[1]');
});

test('nesting deeper than the limit is refused, at any depth, without a stack overflow', () => {
  assert.equal(problemOf('['.repeat(100) + ']'.repeat(100)), undefined);
  assert.equal(problemOf('['.repeat(101) + ']'.repeat(101))?.problem, 'nests deeper than 100 levels of arrays and objects');
  assert.throws(() => checkJsonText('{"a":'.repeat(200_000) + '1' + '}'.repeat(200_000)), JsonValueError);
  assert.throws(() => checkJsonText('[[[]]]', { maxDepth: 2 }), /nests deeper than 2 levels/);
});

test('NUL and half surrogate pairs are refused; whole pairs and escaped backslashes are not', () => {
  assert.match(problemOf('{"a":"x\\u0000"}')!.problem, /\\u0000 cannot be stored/);
  assert.match(problemOf('["\\ud800"]')!.problem, /\\ud800 is half of a UTF-16 surrogate pair/);
  assert.match(problemOf('["\\udc00"]')!.problem, /\\udc00 is half/);
  assert.match(problemOf('["\\\\\\ud83d"]')!.problem, /\\ud83d is half/);
  assert.equal(problemOf('["\\ud83d\\ude00", "\\\\u0000", "\\\\ud800"]'), undefined);
});

test('decoders refuse a message over the limits with its envelope and a reason naming the path in its payload', () => {
  const v2 = () => decodeText('["1","2","realtime:r","broadcast",{"type":"broadcast","event":"e","payload":{"n":1e400}}]', '2.0.0');
  assert.throws(v2, (error: unknown) => {
    assert.ok(error instanceof RefusedPayloadError);
    assert.deepEqual(error.envelope, { joinRef: '1', ref: '2', topic: 'realtime:r', event: 'broadcast', payload: {} });
    assert.equal(error.reason, 'InvalidPayload: payload.n: number 1e400 is beyond the range of a 64-bit float; send it as a string');
    return true;
  });
  assert.throws(
    () => decodeText('{"topic":"realtime:r","event":"presence","payload":{"payload":{"id":12345678901234567890}},"ref":"3"}', '1.0.0'),
    (error: unknown) => error instanceof RefusedPayloadError && error.reason.startsWith('InvalidPayload: payload.id: number 12345678901234567890'),
  );
  const push = encodeBroadcastPush({ joinRef: '1', ref: '2', topic: 'realtime:r', event: 'e', meta: {}, payload: { ok: true } });
  const text = Buffer.from(push).toString('latin1').replace('{"ok":true}', '{"ok":1e999}');
  assert.throws(
    () => decodeBroadcastPush(Uint8Array.from(Buffer.from(text, 'latin1'))),
    (error: unknown) => {
      assert.ok(error instanceof RefusedPayloadError);
      assert.equal(error.envelope.event, 'broadcast');
      assert.equal(error.reason, 'InvalidPayload: payload.ok: number 1e999 is beyond the range of a 64-bit float; send it as a string');
      return true;
    },
  );
});
