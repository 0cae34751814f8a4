// The legacy `graphql-ws` subprotocol (subscriptions-transport-ws): connection_init/ack/error, ka, start/data/error/complete/stop, connection_terminate.
import { headersOfPayload } from './connection-auth.js';
import { GraphQLSocket, MAX_OPERATION_ID_LENGTH, type GraphQLSocketDeps, type TextSocket } from './socket-base.js';

/** The subprotocol name a client asks for in Sec-WebSocket-Protocol. */
export const LEGACY_WS = 'graphql-ws';

interface Message {
  readonly type?: unknown;
  readonly id?: unknown;
  readonly payload?: unknown;
}

/**
 * A socket speaking the legacy protocol. A `connection_init` on an acknowledged socket updates its
 * token in band: `connection_ack` when accepted, `connection_error` (the old token stays) when not.
 */
export class LegacyWsSocket extends GraphQLSocket {
  private acknowledged = false;
  /** Set while `connection_init` is being verified: `start` messages wait for it, as clients send them without waiting for the ack. */
  private initialising: Promise<void> | undefined;
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(
    socket: TextSocket,
    deps: GraphQLSocketDeps,
    private readonly keepAliveMs: number,
  ) {
    super(socket, deps);
  }

  override disconnected(): void {
    clearInterval(this.keepAlive);
    super.disconnected();
  }

  receive(text: string): void {
    const frame = this.parseFrame(text);
    if ('refusal' in frame) return this.send({ type: 'error', payload: { message: frame.refusal === 'not JSON' ? 'Message must be JSON-parseable.' : frame.refusal } });
    const message = frame.message as Message | null;
    const id = typeof message?.id === 'string' || typeof message?.id === 'number' ? String(message.id) : undefined;
    switch (message?.type) {
      case 'connection_init':
        if (this.acknowledged) {
          void this.updateToken(headersOfPayload(message.payload)).then((update) =>
            this.send(update.accepted ? { type: 'connection_ack' } : { type: 'connection_error', payload: { message: update.message } }),
          );
          return;
        }
        this.initialising = this.initialise(headersOfPayload(message.payload)).then((refusal) => {
          if (refusal !== undefined) {
            this.send({ type: 'connection_error', payload: { message: `Connection initialization failed: ${refusal}` } });
            return this.close(4400, `Connection initialization failed: ${refusal}`.slice(0, 120));
          }
          this.acknowledged = true;
          this.send({ type: 'connection_ack' });
          this.send({ type: 'ka' });
          this.keepAlive = setInterval(() => this.send({ type: 'ka' }), this.keepAliveMs);
        });
        return;
      case 'connection_terminate':
        return this.close(1000, 'Normal Closure');
      case 'start': {
        if (this.initialising && !this.acknowledged) {
          void this.initialising.then(() => this.acknowledged && this.receive(text));
          return;
        }
        const payload = message.payload as Record<string, unknown> | null | undefined;
        if (id === undefined) return this.send({ type: 'error', payload: { message: 'start needs an "id"' } });
        if (id.length > MAX_OPERATION_ID_LENGTH) return this.send({ type: 'error', payload: { message: `start: "id" is longer than ${MAX_OPERATION_ID_LENGTH} characters` } });
        if (!this.acknowledged) return this.send({ type: 'error', id, payload: { message: 'the connection is not initialised: send connection_init first' } });
        if (!payload || typeof payload['query'] !== 'string') return this.send({ type: 'error', id, payload: { message: 'start needs a payload with a "query"' } });
        this.stop(id);
        const variables = payload['variables'] && typeof payload['variables'] === 'object' ? (payload['variables'] as Record<string, unknown>) : null;
        const operationName = typeof payload['operationName'] === 'string' ? payload['operationName'] : null;
        this.start(
          id,
          { query: payload['query'], variables, operationName },
          {
            next: (result) => this.send({ type: 'data', id, payload: result }),
            error: (errors) => this.send({ type: 'error', id, payload: errors }),
            complete: () => this.send({ type: 'complete', id }),
          },
        );
        return;
      }
      case 'stop':
        if (id !== undefined && this.stop(id)) this.send({ type: 'complete', id });
        return;
      default:
        return this.send({ type: 'error', ...(id !== undefined ? { id } : {}), payload: { message: `unknown message type "${String(message?.type)}"` } });
    }
  }
}
