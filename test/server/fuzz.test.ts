// Fuzzing the frame decoders and the join payload: generated and mutated frames, unit-level through the real decode path, then over a real socket.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { decodeBroadcastPush, decodeText, encodeBroadcastPush, encodeText, MalformedMessageError, type ProtocolVersion } from '@nself/protocol';
import { readJoinPayload } from '../../packages/server/src/channel/join-payload.js';
import { isRefusal } from '../../packages/server/src/refusal.js';
import { RawClient } from './raw-client.js';
import { startTestServer, useTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const env = useTestServer();

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Heap in use after full collections, in bytes. */
function settledHeap(): number {
  for (let round = 0; round < 3; round++) gc();
  return process.memoryUsage().heapUsed;
}

/** A small seeded generator (mulberry32), so that a failure can be replayed from its seed. */
function generator(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
  const int = (below: number): number => Math.floor(next() * below);
  const pick = <T>(values: readonly T[]): T => values[int(values.length)]!;
  return { next, int, pick, chance: (probability: number) => next() < probability };
}
type Random = ReturnType<typeof generator>;

const NUMBER_TOKENS = ['0', '-0', '7', '-12.5e-3', '0.1', '1e400', '-1e400', '1e-400', '12345678901234567890', '9007199254740993', '1.5e300', '123456789012345678901234567890.5'];
const STRINGS = ['', 'a', 'room', 'ü€𝄞', '\\"', '\\u0000', '\\ud800', 'true', '"', 'x'.repeat(300), 'realtime:', 'phoenix'];
const EVENTS = ['phx_join', 'phx_leave', 'heartbeat', 'broadcast', 'presence', 'access_token', 'phx_reply', '', 'track', 'x'];
const TOPICS = ['phoenix', 'realtime:fuzz', 'realtime:', 'realtime:fuzz-2', 'other', 'REALTIME:Fuzz', 'realtime:ü'];

/** Random JSON text: any value, nested up to `depth` (numbers drawn from tokens a float may not keep). */
function jsonText(random: Random, depth: number): string {
  const kind = depth <= 0 ? random.int(4) : random.int(7);
  switch (kind) {
    case 0:
      return random.pick(['null', 'true', 'false']);
    case 1:
      return random.pick(NUMBER_TOKENS);
    case 2:
      return `"${random.pick(STRINGS)}"`;
    case 3:
      return String(random.int(1000));
    case 4:
      return `[${Array.from({ length: random.int(4) }, () => jsonText(random, depth - 1)).join(',')}]`;
    default:
      return `{${Array.from({ length: random.int(4) }, () => `"${random.pick(STRINGS)}":${jsonText(random, depth - 1)}`).join(',')}}`;
  }
}

/** Arrays and objects nested `depth` deep. */
function nested(random: Random, depth: number): string {
  return random.chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** A join payload with a random config: plausible shapes with random values in them. */
function joinPayloadText(random: Random): string {
  const value = () => (random.chance(0.6) ? random.pick(['true', 'false', '"true"', '0', '-1', 'null', '"x"', '{}', '[]']) : jsonText(random, 2));
  const binding = () =>
    `{"event":${random.pick(['"*"', '"INSERT"', '"bogus"', '1'])},"schema":${random.pick(['"public"', '""', 'null'])},` +
    `"table":${random.pick(['"todos"', '"a\\"b"', '5'])},"filter":${random.pick(['"id=eq.1"', '"id=in.(1,2)"', '"=eq."', '"x=zz.1"', '[]'])}` +
    `${random.chance(0.3) ? `,"select":${random.pick(['["id"]', '"id"', '[1]'])}` : ''}}`;
  const parts = [
    `"broadcast":{"self":${value()},"ack":${value()}${random.chance(0.3) ? `,"replay":{"since":${value()},"limit":${value()}}` : ''}${random.chance(0.3) ? `,"resume":{"offset":${random.pick(NUMBER_TOKENS)}}` : ''}}`,
    `"presence":{"key":${value()},"enabled":${value()}}`,
    `"postgres_changes":${random.chance(0.7) ? `[${Array.from({ length: random.int(3) }, binding).join(',')}]` : value()}`,
    `"private":${value()}`,
    `"postgres_changes_resume":${random.chance(0.5) ? `{"position":${random.pick(NUMBER_TOKENS)}}` : value()}`,
  ].filter(() => random.chance(0.7));
  if (random.chance(0.1)) parts.push(`"deep":${nested(random, random.pick([50, 101, 500]))}`);
  const config = random.chance(0.9) ? `{${parts.join(',')}}` : value();
  return `{"config":${config}${random.chance(0.3) ? `,"access_token":${random.pick(['"a.b.c"', '"sb_x"', '""', '7'])}` : ''}}`;
}

/** A frame of `version`: mostly well-formed, with a payload from join, broadcast or presence shapes, or random JSON. */
function textFrame(random: Random, version: ProtocolVersion): string {
  const event = random.pick(EVENTS);
  const payload =
    event === 'phx_join'
      ? joinPayloadText(random)
      : event === 'broadcast'
        ? `{"type":"broadcast","event":"${random.pick(STRINGS)}","payload":${jsonText(random, 3)}}`
        : event === 'presence'
          ? `{"type":"presence","event":"${random.pick(['track', 'untrack', 'TRACK', 'x'])}","payload":${jsonText(random, 3)}}`
          : jsonText(random, 2);
  const ref = () => random.pick(['null', '"1"', '"42"', '7', '1e400', '{}', '""']);
  const topic = `"${random.pick(TOPICS)}"`;
  if (version === '2.0.0' && random.chance(0.8)) return `[${ref()},${ref()},${topic},"${event}",${payload}]`;
  return `{"topic":${topic},"event":"${event}","payload":${payload},"ref":${ref()}${random.chance(0.5) ? `,"join_ref":${ref()}` : ''}}`;
}

/** A kind-3 binary push, well-formed before mutation (a bare header when the generated JSON or fields do not make one). */
function binaryFrame(random: Random): Uint8Array {
  const short = () => random.pick(['', '1', 'realtime:fuzz', 'ü€', 'e'.repeat(random.int(255))]);
  try {
    const payload = random.chance(0.5) ? new Uint8Array(random.int(64)).map(() => random.int(256)) : (JSON.parse(jsonText(random, 3)) as never);
    return encodeBroadcastPush({ joinRef: short(), ref: short(), topic: 'realtime:fuzz', event: random.pick(EVENTS), meta: {}, payload });
  } catch {
    return new Uint8Array([3, 0, 0, 0, 0, 0, random.int(3)]);
  }
}

/** Mutates text: flipped, dropped, inserted or duplicated characters, or a cut. */
function mutateText(random: Random, text: string): string {
  let result = text;
  for (let round = 1 + random.int(3); round > 0; round--) {
    const at = random.int(result.length + 1);
    switch (random.int(5)) {
      case 0:
        result = result.slice(0, at) + String.fromCharCode(random.int(0x3000)) + result.slice(at + 1);
        break;
      case 1:
        result = result.slice(0, at) + result.slice(at + 1 + random.int(8));
        break;
      case 2:
        result = result.slice(0, at) + random.pick(['"', '[', '{', ']', '}', ',', ':', '\\', '1e400', 'null']) + result.slice(at);
        break;
      case 3:
        result = result.slice(0, at);
        break;
      default:
        result = result.slice(0, at) + result.slice(Math.max(0, at - 10), at) + result.slice(at);
    }
  }
  return result;
}

/** Mutates bytes: flipped bytes (lengths and encoding included), cuts and appended garbage. */
function mutateBytes(random: Random, frame: Uint8Array): Uint8Array {
  let bytes = Uint8Array.from(frame);
  for (let round = 1 + random.int(3); round > 0; round--) {
    const choice = random.int(4);
    if (choice === 0 && bytes.length > 0) bytes[random.int(bytes.length)] = random.int(256);
    else if (choice === 1) bytes = bytes.subarray(0, random.int(bytes.length + 1));
    else if (choice === 2) bytes = Uint8Array.from([...bytes, ...Array.from({ length: random.int(16) }, () => random.int(256))]);
    else if (bytes.length > 6) bytes[1 + random.int(6)] = random.int(256);
  }
  return bytes;
}

/** Runs a frame through the decoders as the server does; returns the unexpected error, if any. */
function decodeLikeServer(frame: string | Uint8Array, version: ProtocolVersion): unknown {
  try {
    const message = typeof frame === 'string' ? decodeText(frame, version) : { ...decodeBroadcastPush(frame), payload: {} };
    if (typeof frame === 'string' && message.event === 'phx_join') {
      try {
        readJoinPayload(message.payload);
      } catch (error) {
        if (!isRefusal(error, 'InvalidJoinPayload', 'InvalidBinding', 'InvalidReplay')) return error;
      }
    }
    encodeText({ joinRef: message.joinRef, ref: message.ref, topic: message.topic, event: 'phx_reply', payload: { status: 'ok', response: {} } }, version);
    return undefined;
  } catch (error) {
    return error instanceof MalformedMessageError ? undefined : error;
  }
}

/** Hostile V2 frames on the joined channel `realtime:fuzz`, mixed into the socket run: each must be refused, never fail a handler. */
const HOSTILE = [
  `["1","h1","realtime:fuzz","broadcast",{"type":"broadcast","event":"d","payload":${'['.repeat(20_000)}${']'.repeat(20_000)}}]`,
  '["1","h2","realtime:fuzz","broadcast",{"type":"broadcast","event":"n","payload":{"n":1e400}}]',
  '["1","h3","realtime:fuzz","broadcast",{"type":"broadcast","event":"s","payload":{"s":"\\ud800"}}]',
  `["1","h4","realtime:fuzz","broadcast",{"type":"broadcast","event":"${'€'.repeat(200)}","payload":{}}]`,
  `["1","h5","realtime:fuzz","presence",{"type":"presence","event":"track","payload":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}]`,
];

/** `count` generated frames for a socket of `version` (binary ones only for V2), about half of them mutated. */
function* frames(random: Random, count: number, version: ProtocolVersion): Generator<string | Uint8Array> {
  for (let index = 0; index < count; index++) {
    if (version === '2.0.0' && random.chance(0.3)) {
      const frame = binaryFrame(random);
      yield random.chance(0.5) ? mutateBytes(random, frame) : frame;
    } else {
      const frame = random.chance(0.001)
        ? `[null,"1","realtime:fuzz","broadcast",{"type":"broadcast","event":"d","payload":${nested(random, 20_000)}}]`
        : textFrame(random, version);
      yield random.chance(0.5) ? mutateText(random, frame) : frame;
    }
  }
}

test('120,000 generated frames and join payloads through the decoders: no unexpected error, heap bounded', () => {
  const random = generator(16);
  const before = settledHeap();
  const startedAt = Date.now();
  let count = 0;
  const failures: string[] = [];
  for (const version of ['1.0.0', '2.0.0'] as const) {
    for (const frame of frames(random, 60_000, version)) {
      count++;
      const error = decodeLikeServer(frame, version);
      if (error && failures.length < 5) {
        failures.push(`${String(error)} on ${typeof frame === 'string' ? frame.slice(0, 200) : Buffer.from(frame).toString('hex').slice(0, 200)}`);
      }
    }
  }
  const grown = settledHeap() - before;
  assert.equal(count, 120_000);
  assert.deepEqual(failures, []);
  assert.ok(grown < 16 * 1024 * 1024, `the heap grew by ${grown} bytes`);
  assert.ok(Date.now() - startedAt < 45_000, 'the unit run stays well under a minute');
});

test('4,000 generated frames (and hostile ones among them) over real sockets: the server answers a heartbeat after, logs no handler failure, heap bounded', async () => {
  const logFile = path.join(os.tmpdir(), `nself-realtime-fuzz-${process.pid}.log`);
  const server = await startTestServer(env.db, {
    logFile,
    limits: { maxJoinsPerSecond: 1_000_000, maxMessagesPerSecond: 1_000_000, maxHeartbeatsPerSecond: 1_000_000 },
  });
  try {
    const random = generator(61);
    const before = settledHeap();
    for (const version of ['2.0.0', '1.0.0'] as const) {
      const client = await RawClient.open(server, `vsn=${version}&apikey=dev`);
      if (version === '2.0.0') await client.join('realtime:fuzz', '1', { broadcast: { self: true, ack: true }, presence: { key: 'k', enabled: true } });
      let sent = 0;
      for (const frame of frames(random, 2_000, version)) {
        client.send(typeof frame === 'string' ? frame : Buffer.from(frame));
        if (version === '2.0.0' && ++sent % 100 === 0) client.send(HOSTILE[(sent / 100) % HOSTILE.length]!);
      }
      client.send(version === '2.0.0' ? [null, 'last', 'phoenix', 'heartbeat', {}] : { topic: 'phoenix', event: 'heartbeat', payload: {}, ref: 'last' });
      if (version === '2.0.0') {
        await client.expect((frame) => frame[1] === 'last', 'the heartbeat reply after the fuzzed frames', 30_000);
      } else {
        await waitFor(() => client.frames.some((frame) => (frame as unknown as { ref?: string }).ref === 'last'), 'the V1 heartbeat reply', 30_000);
      }
      assert.equal(client.closeCode, undefined, 'the socket is still open');
      await client.close();
    }
    const fresh = await RawClient.open(server);
    assert.equal(((await fresh.join('realtime:after-fuzz', '1'))[4] as { status: string }).status, 'ok');
    await fresh.close();
    const failures = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((line) => line.includes('"level":50'));
    assert.deepEqual(failures.slice(0, 3), []);
    const grown = settledHeap() - before;
    assert.ok(grown < 32 * 1024 * 1024, `the heap grew by ${grown} bytes`);
  } finally {
    await server.close();
  }
});
