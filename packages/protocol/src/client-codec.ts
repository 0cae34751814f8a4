// V2 binary broadcast frames in the client's direction: encoding kind-3 pushes and decoding kind-4 broadcasts.
import { BinaryKind, PayloadEncoding } from './constants.js';
import { isJsonObject, type Json } from './message.js';
import type { BroadcastFrame, BroadcastPush } from './binary-serializer.js';
import { MalformedMessageError } from './text-serializer.js';

const PUSH_HEADER = 7;
const BROADCAST_HEADER = 5;
const MAX_FIELD = 255;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Encodes a client broadcast push as a kind-3 frame: JSON payloads get encoding 1, bytes encoding 0.
 * Throws a RangeError naming the field when a join ref, ref, topic, event or metadata exceeds 255 bytes.
 */
export function encodeBroadcastPush(push: BroadcastPush): Uint8Array {
  const meta = Object.keys(push.meta).length > 0 ? JSON.stringify(push.meta) : '';
  const fields = [push.joinRef, push.ref, push.topic, push.event, meta].map((text) => encoder.encode(text));
  const names = ['join ref', 'ref', 'topic', 'event', 'metadata'];
  fields.forEach((bytes, index) => {
    if (bytes.length > MAX_FIELD) throw new RangeError(`broadcast ${names[index]} is ${bytes.length} bytes; at most ${MAX_FIELD} fit`);
  });
  const isBinary = push.payload instanceof Uint8Array;
  const body = push.payload instanceof Uint8Array ? push.payload : encoder.encode(JSON.stringify(push.payload ?? {}));
  const size = PUSH_HEADER + fields.reduce((sum, bytes) => sum + bytes.length, 0) + body.length;
  const frame = new Uint8Array(size);
  frame.set([BinaryKind.userBroadcastPush, ...fields.map((bytes) => bytes.length), isBinary ? PayloadEncoding.binary : PayloadEncoding.json]);
  let offset = PUSH_HEADER;
  for (const part of [...fields, body]) {
    frame.set(part, offset);
    offset += part.length;
  }
  return frame;
}

/** Decodes a kind-4 broadcast frame; throws MalformedMessageError for any other kind or a truncated frame. */
export function decodeBroadcast(frame: Uint8Array): BroadcastFrame {
  if (frame.length < BROADCAST_HEADER) throw new MalformedMessageError('binary frame is shorter than its header');
  if (frame[0] !== BinaryKind.userBroadcast) {
    throw new MalformedMessageError(`binary frame kind ${frame[0]} is not supported; expected ${BinaryKind.userBroadcast}`);
  }
  let offset = BROADCAST_HEADER;
  const [topic, event, metaText] = [frame[1]!, frame[2]!, frame[3]!].map((length) => {
    if (offset + length > frame.length) throw new MalformedMessageError('binary frame is shorter than its field lengths');
    const text = utf8(frame.subarray(offset, offset + length));
    offset += length;
    return text;
  }) as [string, string, string];
  const body = frame.subarray(offset);
  const encoding = frame[4];
  let payload: Json | Uint8Array;
  if (encoding === PayloadEncoding.binary) payload = body.slice();
  else if (encoding === PayloadEncoding.json) payload = json(utf8(body), 'payload');
  else throw new MalformedMessageError(`binary frame payload encoding ${encoding} is not supported; expected 0 (binary) or 1 (JSON)`);
  if (metaText === '') return { topic, event, payload };
  const meta = json(metaText, 'metadata');
  if (!isJsonObject(meta)) throw new MalformedMessageError('binary frame metadata must be a JSON object');
  return { topic, event, payload, meta };
}

function utf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new MalformedMessageError('binary frame field is not valid UTF-8');
  }
}

function json(text: string, what: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch {
    throw new MalformedMessageError(`binary frame ${what} is not valid JSON`);
  }
}
