// Text frames of both versions: V1 JSON objects and V2 JSON arrays `[join_ref, ref, topic, event, payload]`.
import type { ProtocolVersion } from './constants.js';
import { checkJsonText, DEFAULT_JSON_LIMITS, JsonValueError, type JsonLimits } from './json-limits.js';
import { isJsonObject, type Message } from './message.js';

/** A frame that is not a valid protocol message; the server drops it and keeps the socket. */
export class MalformedMessageError extends Error {
  override readonly name: string = 'MalformedMessageError';
}

/**
 * A frame that is a message, but whose JSON is over the limits (too deep, or a number that would not
 * be kept exactly): the server answers it as a refused push. `envelope` is the message with an empty
 * payload; `reason` is the error reply's text.
 */
export class RefusedPayloadError extends MalformedMessageError {
  override readonly name = 'RefusedPayloadError';

  constructor(
    readonly envelope: Message,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * The error reply's reason for JSON over the limits, naming where: the path of the problem, with
 * `prefix` (the frame's own part, up to the message payload) replaced by `base`.
 */
export function refusedPayloadReason(error: JsonValueError, prefix: RegExp, base = ''): string {
  const path = `${base}${error.path.replace(prefix, '')}`.replace(/^\./, '');
  return `InvalidPayload: ${path || 'payload'}: ${error.problem}`;
}

/**
 * Encodes a message as a text frame in the given version. V1 frames carry no `join_ref`, as Phoenix's
 * V1 serializer. `stringify` replaces JSON.stringify, for payloads that hold values it cannot write.
 */
export function encodeText(message: Message, version: ProtocolVersion, stringify: (value: unknown) => string = JSON.stringify): string {
  if (version === '2.0.0') {
    return stringify([message.joinRef, message.ref, message.topic, message.event, message.payload]);
  }
  return stringify({ topic: message.topic, event: message.event, payload: message.payload, ref: message.ref });
}

/**
 * Decodes a text frame of the given version, throwing MalformedMessageError when it is not a message,
 * and RefusedPayloadError when it is one whose JSON is over `limits`.
 */
export function decodeText(text: string, version: ProtocolVersion, limits: JsonLimits = DEFAULT_JSON_LIMITS): Message {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MalformedMessageError('frame is not valid JSON');
  }
  let message: Message;
  if (version === '2.0.0' && Array.isArray(value)) message = fromArray(value);
  else if (isJsonObject(value)) message = fromObject(value);
  else if (Array.isArray(value)) message = fromArray(value);
  else throw new MalformedMessageError('frame is neither a message object nor a [join_ref, ref, topic, event, payload] array');
  try {
    checkJsonText(text, limits);
  } catch (error) {
    if (!(error instanceof JsonValueError)) throw error;
    throw new RefusedPayloadError({ ...message, payload: {} }, refusedPayloadReason(error, Array.isArray(value) ? /^\$\[4\]/ : /^\$\.payload/));
  }
  return message;
}

function fromArray(value: unknown[]): Message {
  if (value.length < 5) throw new MalformedMessageError('message array needs 5 elements: [join_ref, ref, topic, event, payload]');
  const [joinRef, ref, topic, event, payload] = value;
  return validated({ joinRef, ref, topic, event, payload });
}

function fromObject(value: Record<string, unknown>): Message {
  return validated({
    joinRef: value['join_ref'] ?? null,
    ref: value['ref'] ?? null,
    topic: value['topic'],
    event: value['event'],
    payload: value['payload'],
  });
}

function validated(raw: { joinRef: unknown; ref: unknown; topic: unknown; event: unknown; payload: unknown }): Message {
  if (typeof raw.topic !== 'string') throw new MalformedMessageError('message topic must be a string');
  if (typeof raw.event !== 'string' || raw.event === '') throw new MalformedMessageError('message event must be a non-empty string');
  return {
    joinRef: refOf(raw.joinRef, 'join_ref'),
    ref: refOf(raw.ref, 'ref'),
    topic: raw.topic,
    event: raw.event,
    payload: raw.payload === undefined ? {} : raw.payload,
  };
}

function refOf(value: unknown, field: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new MalformedMessageError(`message ${field} must be a string or null`);
}
