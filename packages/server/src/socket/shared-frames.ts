// Frames that many sockets receive alike (a broadcast, a table change), encoded once per variant instead of once per recipient.

import type { ProtocolVersion } from '@nself/protocol';

/** The head of a frame that many sockets of one protocol version receive alike, with its variant's name built once. */
export interface SharedHead {
  readonly version: ProtocolVersion;
  readonly topic: string;
  readonly event: string;
  readonly joinRef: string | null;
  /** Names everything besides the source that the frame depends on (see `encodedOnce`). */
  readonly variant: string;
}

/** The head of pushes of `event` on `topic` to sockets of `version` (made once per joined channel, not per delivery). */
export function sharedHead(version: ProtocolVersion, topic: string, event: string, joinRef: string | null): SharedHead {
  return { version, topic, event, joinRef, variant: `${version}\u0000${topic}\u0000${event}\u0000${joinRef ?? '\u0001'}` };
}

/** Marks a variant whose encoding failed, so that it is neither retried nor reported again. */
const UNENCODABLE = Symbol('unencodable');

const encodings = new WeakMap<object, Map<string, Buffer | Uint8Array | typeof UNENCODABLE>>();

/**
 * The frame `encode` builds for `source` in the variant `variant` (protocol version, topic, …),
 * encoded on the first call and returned as is to every later caller with the same source object and
 * variant. `variant` must name everything besides `source` that the frame depends on. The cache lives
 * as long as `source` does. When `encode` throws, `failed` is told once and every caller gets
 * undefined: a frame that cannot be built is skipped, never a reason to stop sending.
 */
export function encodedOnce<T extends Buffer | Uint8Array>(source: object, variant: string, encode: () => T, failed: (error: unknown) => void): T | undefined {
  let variants = encodings.get(source);
  if (!variants) {
    variants = new Map();
    encodings.set(source, variants);
  }
  const known = variants.get(variant) as T | typeof UNENCODABLE | undefined;
  if (known === UNENCODABLE) return undefined;
  if (known) return known;
  let frame: T;
  try {
    frame = encode();
  } catch (error) {
    variants.set(variant, UNENCODABLE);
    failed(error);
    return undefined;
  }
  variants.set(variant, frame);
  return frame;
}
