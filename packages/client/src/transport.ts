// Finds a WebSocket implementation: the one given, the platform's global, or the `ws` package on Node.js.
import { RealtimeError } from './errors.js';

/** The part of the WebSocket interface the client uses; browsers' WebSocket and `ws` both fit. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor, such as `globalThis.WebSocket` or the default export of `ws`. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** The `readyState` of an open socket. */
export const SOCKET_OPEN = 1;

/**
 * Returns `given` when set, else `globalThis.WebSocket`, else the `ws` package (Node.js before 22).
 * Throws a RealtimeError with code TRANSPORT_UNAVAILABLE when none exists.
 */
export async function resolveWebSocket(given: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  if (given) return given;
  const platform = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (platform) return platform;
  try {
    const module = (await import('ws')) as unknown as { default: WebSocketConstructor };
    return module.default;
  } catch {
    throw new RealtimeError('TRANSPORT_UNAVAILABLE', 'no WebSocket implementation found: install the `ws` package (npm install ws) or pass one as the `transport` option');
  }
}
