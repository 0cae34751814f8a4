// Frames that many sockets receive alike (a broadcast, a table change), encoded once per variant of each delivery instead of once per recipient.

import type { ProtocolVersion } from '@nself/protocol';

/** The head of a frame that many sockets of one protocol version receive alike, with its variant's name built once. */
export interface SharedHead {
  readonly version: ProtocolVersion;
  readonly topic: string;
  readonly event: string;
  readonly joinRef: string | null;
  /** Names everything besides the source that the frame depends on (see `SharedFrames.encodedOnce`). */
  readonly variant: string;
}

/** The head of pushes of `event` on `topic` to sockets of `version` (made once per joined channel, not per delivery). */
export function sharedHead(version: ProtocolVersion, topic: string, event: string, joinRef: string | null): SharedHead {
  return { version, topic, event, joinRef, variant: `${version}\u0000${topic}\u0000${event}\u0000${joinRef ?? '\u0001'}` };
}

/** Marks a variant whose encoding failed, so that it is neither retried nor reported again. */
const UNENCODABLE = Symbol('unencodable');

/**
 * The frames of one delivery of a source (a stored broadcast, a table change event) to many sockets,
 * by variant (protocol version, topic, …). Whoever delivers the source makes one and hands it, with the
 * source, to every socket it sends to; it lives as long as that delivery does.
 */
export class SharedFrames {
  private readonly frames = new Map<string, Buffer | Uint8Array | typeof UNENCODABLE>();

  /**
   * The frame `encode` builds in the variant `variant`, encoded on the first call and returned as is to
   * every later caller with the same variant. `variant` must name everything besides the delivery's
   * source that the frame depends on. When `encode` throws, `failed` is told once and every caller
   * gets undefined: a frame that cannot be built is skipped, never a reason to stop sending.
   */
  encodedOnce<T extends Buffer | Uint8Array>(variant: string, encode: () => T, failed: (error: unknown) => void): T | undefined {
    const known = this.frames.get(variant) as T | typeof UNENCODABLE | undefined;
    if (known === UNENCODABLE) return undefined;
    if (known) return known;
    let frame: T;
    try {
      frame = encode();
    } catch (error) {
      this.frames.set(variant, UNENCODABLE);
      failed(error);
      return undefined;
    }
    this.frames.set(variant, frame);
    return frame;
  }
}
