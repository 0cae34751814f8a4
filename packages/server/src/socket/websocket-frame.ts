// Whole server-to-client WebSocket data frames (RFC 6455 §5.2: final, unmasked), built once and written as is to many sockets.

/** The frame carrying `payload` as one text or binary message. */
export function serverFrame(payload: Uint8Array, kind: 'text' | 'binary'): Buffer {
  const length = payload.byteLength;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x80 | (kind === 'text' ? 0x1 : 0x2);
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  frame.set(payload, headerLength);
  return frame;
}
