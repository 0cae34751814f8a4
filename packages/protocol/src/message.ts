// The message model every frame decodes to, and the payload shapes of the protocol's events.

/** JSON value as it travels on the wire. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** One Phoenix message: every frame, text or binary, in either version, decodes to this. */
export interface Message<P = unknown> {
  readonly joinRef: string | null;
  readonly ref: string | null;
  readonly topic: string;
  readonly event: string;
  readonly payload: P;
}

/** The payload of a broadcast as clients receive it; `payload` is JSON, or bytes for binary broadcasts. */
export interface BroadcastPayload {
  readonly type: 'broadcast';
  readonly event: string;
  readonly payload: Json | Uint8Array;
  readonly meta?: JsonObject;
}

/** What this server adds to `system` payloads. */
export interface SystemPayloadExtras {
  /** On "Subscribed to PostgreSQL": the change-log position delivery starts after (the resume point until a change arrives). */
  readonly position?: number;
}

/** The payload of a `system` event. */
export interface SystemPayload extends SystemPayloadExtras {
  /** `broadcast` (this server's): a resume of the channel's messages cannot start where asked (ResumeUnavailable). */
  readonly extension: 'system' | 'postgres_changes' | 'broadcast';
  readonly status: 'ok' | 'error';
  readonly message: string;
  readonly channel: string;
}

/** True for plain JSON objects (not arrays, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}
