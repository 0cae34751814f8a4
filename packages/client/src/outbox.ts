// Broadcasts waiting for their channel to join: a bounded queue, flushed in order once joined.
import { RealtimeError } from './errors.js';

/** The result of an acknowledged broadcast. */
export interface SendReceipt {
  /** The message's offset in the channel's log, when the server reports it. */
  readonly offset: number | undefined;
}

/** A broadcast waiting to be written, with the promise to settle. */
export interface QueuedSend {
  readonly event: string;
  readonly payload: unknown;
  resolve(receipt: SendReceipt): void;
  reject(error: RealtimeError): void;
}

/** A first-in first-out queue of at most `limit` sends. */
export class Outbox {
  private items: QueuedSend[] = [];

  constructor(
    private readonly limit: number,
    private readonly channelName: string,
  ) {}

  /** Queues a send, or rejects it with QUEUE_FULL when `limit` are already waiting. */
  add(item: QueuedSend): void {
    if (this.items.length >= this.limit) {
      item.reject(
        new RealtimeError(
          'QUEUE_FULL',
          `channel "${this.channelName}" already has ${this.limit} messages waiting for the connection; wait for it to reconnect or raise maxQueuedSends`,
        ),
      );
      return;
    }
    this.items.push(item);
  }

  /** Removes and returns every waiting send, oldest first. */
  takeAll(): QueuedSend[] {
    return this.items.splice(0);
  }

  /** Rejects every waiting send with `error`. */
  failAll(error: RealtimeError): void {
    for (const item of this.takeAll()) item.reject(error);
  }
}

/** A payload as the codec takes it: bytes as Uint8Array, anything else as JSON (undefined → {}). */
export function wirePayload(payload: unknown): unknown {
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  if (ArrayBuffer.isView(payload)) return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  return payload ?? {};
}
