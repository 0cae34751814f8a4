// Ends an HTTP upgrade that will not become a WebSocket: the refusal answer, and the error listener of a raw socket.
import type { Duplex } from 'node:stream';

/** The error listener of a raw socket (errors end it; the WebSocket layer reports what matters): shared, so it keeps no upgrade state alive. */
export function ignoreError(): void {}

/** Answers an upgrade request with `status` and `{"error"}`, and ends the socket. */
export function refuseUpgrade(socket: Duplex, status: number, error: string): void {
  const body = JSON.stringify({ error });
  const reason =
    { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' }[status] ??
    'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
