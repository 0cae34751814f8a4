// Frames that many sockets receive alike (a broadcast, a table change), encoded once per variant instead of once per recipient.

const encodings = new WeakMap<object, Map<string, Buffer | Uint8Array>>();

/**
 * The frame `encode` builds for `source` in the variant `variant` (protocol version, topic, …),
 * encoded on the first call and returned as is to every later caller with the same source object and
 * variant. `variant` must name everything besides `source` that the frame depends on. The cache lives
 * as long as `source` does.
 */
export function encodedOnce<T extends Buffer | Uint8Array>(source: object, variant: string, encode: () => T): T {
  let variants = encodings.get(source);
  if (!variants) {
    variants = new Map();
    encodings.set(source, variants);
  }
  const known = variants.get(variant) as T | undefined;
  if (known) return known;
  const frame = encode();
  variants.set(variant, frame);
  return frame;
}
