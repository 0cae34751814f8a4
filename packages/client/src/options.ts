// The client's options: their meaning and defaults, validation, and the WebSocket URL they produce.
import { RealtimeError } from './errors.js';
import type { WebSocketConstructor } from './transport.js';

/** A token, or a function returning one (called on connect and before each heartbeat, so it can refresh). */
export type AccessToken = string | null | (() => string | null | Promise<string | null>);

/** Options of `new RealtimeClient(options)`. */
export interface RealtimeClientOptions {
  /**
   * Server address. `ws://localhost:3100` (no path) connects to `/realtime/v1/websocket`; a path not
   * ending in `/websocket` gets `/websocket` appended; `http(s)://` becomes `ws(s)://`.
   */
  url: string;
  /** Project API key, sent as the `apikey` query parameter. */
  apiKey?: string;
  /** The user's JWT, or a function returning the current one. Sent with every join and refreshed on joined channels. */
  accessToken?: AccessToken;
  /** WebSocket implementation. @default globalThis.WebSocket, else the `ws` package */
  transport?: WebSocketConstructor;
  /** How long to wait for a reply (join, acknowledged send, presence) before giving up. @default 10000 */
  timeoutMs?: number;
  /** Interval between heartbeats; a heartbeat unanswered by the next one closes and reopens the connection. @default 25000 */
  heartbeatIntervalMs?: number;
  /** Delay before reconnect attempt `tries` (1, 2, …). @default 500 ms doubling to 10 s, with jitter */
  reconnectDelayMs?: (tries: number) => number;
  /** Most broadcasts one channel keeps waiting while it is not joined; more are refused with QUEUE_FULL. @default 1000 */
  maxQueuedSends?: number;
}

/** Options with every default filled in. */
export interface ResolvedOptions extends Required<Omit<RealtimeClientOptions, 'apiKey' | 'accessToken' | 'transport'>> {
  apiKey: string | undefined;
  accessToken: AccessToken | undefined;
  transport: WebSocketConstructor | undefined;
}

const DEFAULT_PATH = '/realtime/v1/websocket';

/** Validates the options and fills in defaults; throws a RealtimeError naming the bad option. */
export function resolveOptions(options: RealtimeClientOptions, defaultDelay: (tries: number) => number): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new RealtimeError('INVALID_ARGUMENT', 'RealtimeClient needs an options object such as { url: "ws://localhost:3100" }');
  }
  websocketUrl(options.url, undefined);
  return {
    url: options.url,
    apiKey: options.apiKey,
    accessToken: options.accessToken,
    transport: options.transport,
    timeoutMs: positive('timeoutMs', options.timeoutMs, 10_000),
    heartbeatIntervalMs: positive('heartbeatIntervalMs', options.heartbeatIntervalMs, 25_000),
    reconnectDelayMs: options.reconnectDelayMs ?? defaultDelay,
    maxQueuedSends: positive('maxQueuedSends', options.maxQueuedSends, 1000),
  };
}

/** The WebSocket URL for a server address, with the `apikey` and `vsn` query parameters. */
export function websocketUrl(address: string, apiKey: string | undefined): string {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new RealtimeError('INVALID_ARGUMENT', `url "${address}" is not a URL; expected one like ws://localhost:3100`);
  }
  const schemes: Record<string, string> = { 'ws:': 'ws:', 'wss:': 'wss:', 'http:': 'ws:', 'https:': 'wss:' };
  const scheme = schemes[url.protocol];
  if (!scheme) throw new RealtimeError('INVALID_ARGUMENT', `url "${address}" has scheme ${url.protocol}; expected ws:, wss:, http: or https:`);
  url.protocol = scheme;
  const path = url.pathname.replace(/\/+$/, '');
  if (path === '') url.pathname = DEFAULT_PATH;
  else if (!path.endsWith('/websocket')) url.pathname = `${path}/websocket`;
  if (apiKey) url.searchParams.set('apikey', apiKey);
  url.searchParams.set('vsn', '2.0.0');
  return url.toString();
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RealtimeError('INVALID_ARGUMENT', `${name} must be a positive number of milliseconds or items, got ${String(value)}`);
  }
  return value;
}
