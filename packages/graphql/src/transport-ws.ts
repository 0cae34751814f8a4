// The `graphql-transport-ws` subprotocol: connection_init/ack, ping/pong, subscribe/next/error/complete, and its close codes.
import { headersOfPayload } from './connection-auth.js';
import { GraphQLSocket, MAX_OPERATION_ID_LENGTH } from './socket-base.js';

/** The subprotocol name a client asks for in Sec-WebSocket-Protocol. */
export const TRANSPORT_WS = 'graphql-transport-ws';

interface Message {
  readonly type?: unknown;
  readonly id?: unknown;
  readonly payload?: unknown;
}

/**
 * A socket speaking `graphql-transport-ws`. Besides the protocol, a `ping` whose payload carries
 * `headers.Authorization` updates the socket's token in band: the `pong` says `{"token":"accepted",
 * "expires_at":…}` or `{"token":"refused","message":…}`.
 */
export class TransportWsSocket extends GraphQLSocket {
  private initReceived = false;
  private acknowledged = false;

  receive(text: string): void {
    const frame = this.parseFrame(text);
    if ('refusal' in frame) return this.close(4400, `Invalid message received: ${frame.refusal}`);
    const message = frame.message as Message;
    if (message === null || typeof message !== 'object' || typeof message.type !== 'string') return this.close(4400, 'Invalid message received: no "type"');
    switch (message.type) {
      case 'connection_init':
        if (this.initReceived) return this.close(4429, 'Too many initialisation requests');
        this.initReceived = true;
        void this.initialise(headersOfPayload(message.payload)).then((refusal) => {
          if (refusal !== undefined) return this.close(4400, `Connection initialization failed: ${refusal}`.slice(0, 120));
          this.acknowledged = true;
          this.send({ type: 'connection_ack' });
        });
        return;
      case 'ping':
        if (isObject(message.payload) && isObject(message.payload['headers']) && this.acknowledged) {
          void this.updateToken(headersOfPayload(message.payload)).then((update) =>
            this.send({ type: 'pong', payload: update.accepted ? { token: 'accepted', expires_at: update.expiresAt } : { token: 'refused', message: update.message } }),
          );
          return;
        }
        return this.send({ type: 'pong' });
      case 'pong':
        return;
      case 'subscribe': {
        if (!this.acknowledged) return this.close(4401, 'Unauthorized');
        const { id, payload } = message;
        if (typeof id !== 'string' || id === '' || !isObject(payload) || typeof payload['query'] !== 'string') {
          return this.close(4400, 'Invalid message received: subscribe needs an "id" and a payload with a "query"');
        }
        if (id.length > MAX_OPERATION_ID_LENGTH) return this.close(4400, `Invalid message received: "id" is longer than ${MAX_OPERATION_ID_LENGTH} characters`);
        if (this.isRunning(id)) return this.close(4409, `Subscriber for ${id} already exists`);
        const variables = isObject(payload['variables']) ? payload['variables'] : null;
        const operationName = typeof payload['operationName'] === 'string' ? payload['operationName'] : null;
        this.start(
          id,
          { query: payload['query'], variables, operationName },
          {
            next: (result) => this.send({ type: 'next', id, payload: result }),
            error: (errors) => this.send({ type: 'error', id, payload: errors }),
            complete: () => this.send({ type: 'complete', id }),
          },
        );
        return;
      }
      case 'complete':
        if (typeof message.id === 'string') this.stop(message.id);
        return;
      default:
        return this.close(4400, `Invalid message received: unknown type "${message.type}"`.slice(0, 120));
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
