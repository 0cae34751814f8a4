// The `message_deleted` event: a moderator deleted a stored broadcast, named by its id and offset. Unmodified clients
// ignore it (an event they have no binding for); ours drop the message from what they hold.
import { isJsonObject } from '../message.js';

/** The event name, pushed on the channel's topic with join ref null, like a live broadcast. */
export const MESSAGE_DELETED_EVENT = 'message_deleted';

/** Its payload: which message of the channel's log is gone. */
export interface MessageDeleted {
  readonly id: string;
  readonly offset: number;
}

/** Reads a `message_deleted` payload; undefined when it is not one. */
export function readMessageDeleted(payload: unknown): MessageDeleted | undefined {
  if (!isJsonObject(payload)) return undefined;
  const { id, offset } = payload;
  return typeof id === 'string' && typeof offset === 'number' ? { id, offset } : undefined;
}
