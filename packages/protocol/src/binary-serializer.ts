// V2 binary broadcast frames: decoding the client's kind-3 push and encoding the server's kind-4 broadcast.
import { BinaryKind, FeatureEvent, PayloadEncoding } from './constants.js';
import { checkJsonText, DEFAULT_JSON_LIMITS, JsonValueError, type JsonLimits } from './json-limits.js';
import { isJsonObject, type Json, type JsonObject } from './message.js';
import { MalformedMessageError, RefusedPayloadError, refusedPayloadReason } from './text-serializer.js';

/** A client broadcast push decoded from a kind-3 frame. */
export interface BroadcastPush {
  readonly joinRef: string;
  readonly ref: string;
  readonly topic: string;
  readonly event: string;
  readonly meta: JsonObject;
  /** Parsed JSON when the frame's encoding is JSON, else the raw bytes. */
  readonly payload: Json | Uint8Array;
}

/** A server broadcast to encode as a kind-4 frame. */
export interface BroadcastFrame {
  readonly topic: string;
  readonly event: string;
  readonly payload: Json | Uint8Array;
  readonly meta?: JsonObject;
}

const PUSH_HEADER = 7;
const BROADCAST_HEADER = 5;
const MAX_FIELD = 255;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/**
 * Decodes a kind-3 user broadcast push; throws MalformedMessageError for any other or truncated frame,
 * and RefusedPayloadError when its JSON payload or metadata is over `limits`.
 */
export function decodeBroadcastPush(frame: Uint8Array, limits: JsonLimits = DEFAULT_JSON_LIMITS): BroadcastPush {
  if (frame.length < PUSH_HEADER) throw new MalformedMessageError('binary frame is shorter than its header');
  if (frame[0] !== BinaryKind.userBroadcastPush) {
    throw new MalformedMessageError(`binary frame kind ${frame[0]} is not supported; expected ${BinaryKind.userBroadcastPush}`);
  }
  const lengths = [frame[1]!, frame[2]!, frame[3]!, frame[4]!, frame[5]!];
  const encoding = frame[6];
  let offset = PUSH_HEADER;
  const fields = lengths.map((length) => {
    if (offset + length > frame.length) throw new MalformedMessageError('binary frame is shorter than its field lengths');
    const text = decodeUtf8(frame.subarray(offset, offset + length));
    offset += length;
    return text;
  });
  const [joinRef, ref, topic, event, metaText] = fields as [string, string, string, string, string];
  const refused = (error: JsonValueError, field: string) =>
    new RefusedPayloadError(
      { joinRef: joinRef || null, ref: ref || null, topic, event: FeatureEvent.broadcast, payload: { type: 'broadcast', event, payload: {} } },
      refusedPayloadReason(error, /^\$/, field),
    );
  let meta: JsonObject;
  let payload: Json | Uint8Array;
  try {
    meta = parseMeta(metaText, limits);
  } catch (error) {
    throw error instanceof JsonValueError ? refused(error, 'meta') : error;
  }
  try {
    payload = decodePayload(frame.subarray(offset), encoding, limits);
  } catch (error) {
    throw error instanceof JsonValueError ? refused(error, 'payload') : error;
  }
  return { joinRef, ref, topic, event, meta, payload };
}

/** Encodes a kind-4 user broadcast; JSON payloads get encoding 1, bytes encoding 0. */
export function encodeBroadcast(broadcast: BroadcastFrame): Uint8Array {
  const topic = encoder.encode(broadcast.topic);
  const event = encoder.encode(broadcast.event);
  const meta = broadcast.meta && Object.keys(broadcast.meta).length > 0 ? encoder.encode(JSON.stringify(broadcast.meta)) : new Uint8Array();
  for (const [name, bytes] of [
    ['topic', topic],
    ['event', event],
    ['metadata', meta],
  ] as const) {
    if (bytes.length > MAX_FIELD) throw new RangeError(`binary broadcast ${name} is ${bytes.length} bytes; at most ${MAX_FIELD} fit`);
  }
  const isBinary = broadcast.payload instanceof Uint8Array;
  const body = broadcast.payload instanceof Uint8Array ? broadcast.payload : encoder.encode(JSON.stringify(broadcast.payload));
  const frame = new Uint8Array(BROADCAST_HEADER + topic.length + event.length + meta.length + body.length);
  frame.set([BinaryKind.userBroadcast, topic.length, event.length, meta.length, isBinary ? PayloadEncoding.binary : PayloadEncoding.json]);
  let offset = BROADCAST_HEADER;
  for (const part of [topic, event, meta, body]) {
    frame.set(part, offset);
    offset += part.length;
  }
  return frame;
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new MalformedMessageError('binary frame field is not valid UTF-8');
  }
}

function parseMeta(text: string, limits: JsonLimits): JsonObject {
  if (text === '') return {};
  const value = parseJson(text, 'metadata', limits);
  if (!isJsonObject(value)) throw new MalformedMessageError('binary frame metadata must be a JSON object');
  return value;
}

function decodePayload(bytes: Uint8Array, encoding: number | undefined, limits: JsonLimits): Json | Uint8Array {
  if (encoding === PayloadEncoding.binary) return bytes.slice();
  if (encoding === PayloadEncoding.json) return parseJson(decodeUtf8(bytes), 'payload', limits);
  throw new MalformedMessageError(`binary frame payload encoding ${encoding} is not supported; expected 0 (binary) or 1 (JSON)`);
}

/** Parses a JSON field of the frame; throws MalformedMessageError when it is not JSON, JsonValueError when it is over `limits`. */
function parseJson(text: string, what: string, limits: JsonLimits): Json {
  let value: Json;
  try {
    value = JSON.parse(text) as Json;
  } catch {
    throw new MalformedMessageError(`binary frame ${what} is not valid JSON`);
  }
  checkJsonText(text, limits);
  return value;
}
