// Types for the parts of the phoenix JavaScript client (npm `phoenix` 1.7 and 1.8, which ship none) that the conformance tests use.

declare module 'phoenix-1.7' {
  /** One Phoenix message as the client's serializer sees it. */
  export interface Message {
    join_ref?: string | null;
    ref?: string | null;
    topic: string;
    event: string;
    payload: unknown;
  }

  export interface SocketOptions {
    /** The WebSocket class; browsers' global one when absent (Node 20 has none). */
    transport?: unknown;
    params?: Record<string, unknown> | (() => Record<string, unknown>);
    /** The serializer version sent as the `vsn` query parameter; 2.0.0 when absent. */
    vsn?: string;
    encode?: (message: Message, callback: (encoded: string | ArrayBuffer) => void) => void;
    decode?: (raw: string | ArrayBuffer, callback: (message: Message) => void) => void;
    timeout?: number;
    heartbeatIntervalMs?: number;
    reconnectAfterMs?: (tries: number) => number;
    rejoinAfterMs?: (tries: number) => number;
  }

  export class Push {
    receive(status: 'ok' | 'error' | 'timeout', callback: (response: unknown) => void): Push;
  }

  export class Channel {
    readonly topic: string;
    join(timeout?: number): Push;
    leave(timeout?: number): Push;
    push(event: string, payload: unknown, timeout?: number): Push;
    on(event: string, callback: (payload: unknown, ref?: string | null, joinRef?: string | null) => void): number;
    onClose(callback: () => void): number;
    onError(callback: (reason?: unknown) => void): number;
    isJoined(): boolean;
  }

  export class Socket {
    constructor(endPoint: string, options?: SocketOptions);
    connect(): void;
    disconnect(callback?: () => void, code?: number, reason?: string): void;
    isConnected(): boolean;
    endPointURL(): string;
    channel(topic: string, params?: Record<string, unknown>): Channel;
    onOpen(callback: () => void): string;
    onClose(callback: (event: { code?: number; reason?: string }) => void): string;
    onError(callback: (error: unknown) => void): string;
    onMessage(callback: (message: Message) => void): string;
  }

  /** phoenix's own serializer (vsn 2.0.0 arrays, binary frames for ArrayBuffer payloads). */
  export const Serializer: {
    encode(message: Message, callback: (encoded: string | ArrayBuffer) => void): void;
    decode(raw: string | ArrayBuffer, callback: (message: Message) => void): void;
  };

  /** A key's entry in the presence state: every meta tracked under it. */
  export interface PresenceEntry {
    metas: Array<Record<string, unknown>>;
  }

  export class Presence {
    constructor(channel: Channel, options?: { events?: { state: string; diff: string } });
    onJoin(callback: (key: string, current: PresenceEntry | undefined, joined: PresenceEntry) => void): void;
    onLeave(callback: (key: string, current: PresenceEntry, left: PresenceEntry) => void): void;
    onSync(callback: () => void): void;
    list<T = PresenceEntry>(chooser?: (key: string, entry: PresenceEntry) => T): T[];
  }
}

declare module 'phoenix-1.8' {
  export * from 'phoenix-1.7';
}
