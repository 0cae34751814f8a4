// The `meta` of a stored broadcast (Supabase's `id` and `replayed`, plus its `offset` in the channel's log) and the ack that reports the offset.
import { isJsonObject, type JsonObject } from '../message.js';

/** `meta` of a broadcast this server delivers. */
export interface BroadcastMeta {
  /** The stored message's id. */
  readonly id: string;
  /** Extension: its place in the channel's log, unique and growing in commit order. */
  readonly offset: number;
  /** Present when the message is delivered again (a resume or a replay), not live. */
  readonly replayed?: true;
}

/** The `meta` of a stored message, live or `replayed`, in the order its keys go on the wire. */
export function broadcastMeta(message: { readonly id: string; readonly offset: number }, replayed: boolean): BroadcastMeta & JsonObject {
  return { id: message.id, offset: message.offset, ...(replayed ? { replayed: true } : {}) };
}

/** What a client takes from a broadcast's `meta`. */
export interface BroadcastMetaReading {
  readonly id: string | undefined;
  readonly offset: number | undefined;
  readonly replayed: boolean;
}

/** Reads a broadcast's `meta`, whatever the server sent. */
export function readBroadcastMeta(meta: unknown): BroadcastMetaReading {
  const fields = isJsonObject(meta) ? meta : {};
  const { id, offset, replayed } = fields;
  return {
    id: typeof id === 'string' ? id : undefined,
    offset: typeof offset === 'number' ? offset : undefined,
    replayed: replayed === true,
  };
}

/** Extension: the `response` of the ok reply to an acknowledged broadcast, once it is stored. */
export interface BroadcastAck {
  readonly offset: number;
}

/** The offset an ack reports (`{offset}`, or `{meta: {offset}}`), when it reports one. */
export function readAckOffset(response: unknown): number | undefined {
  const fields = isJsonObject(response) ? response : {};
  const offset = fields['offset'] ?? (isJsonObject(fields['meta']) ? fields['meta']['offset'] : undefined);
  return typeof offset === 'number' ? offset : undefined;
}
