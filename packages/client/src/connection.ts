// One WebSocket connection to the server: opening, heartbeats, replies by ref, reconnecting with backoff, tokens.
import { ChannelEvent, FeatureEvent, PHOENIX_TOPIC, ReplyStatus, decodeBroadcast, decodeText, encodeText, type Message } from '@nself/protocol';
import { RealtimeError } from './errors.js';
import type { Reply } from './reply.js';
import { websocketUrl, type ResolvedOptions } from './options.js';
import { SOCKET_OPEN, resolveWebSocket, type WebSocketLike } from './transport.js';

/**
 * The connection's state:
 * idle → connecting → open ⇄ reconnecting, and closed after `disconnect()` (or when no WebSocket exists).
 */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** What a state change carries besides the state: why the connection closed, when it did. */
export interface StateChangeDetail {
  readonly reason?: string;
  readonly error?: Error;
}

/** What the connection needs from a channel to route messages and lifecycle events to it. */
export interface ChannelEndpoint {
  readonly topic: string;
  handleMessage(message: Message): void;
  handleOpen(): void;
  handleLost(reason: string): void;
  handleToken(token: string | null): void;
}

interface PendingReply {
  readonly onReply: (reply: Reply) => void;
  readonly timer: ReturnType<typeof setTimeout> | undefined;
}

/** The socket shared by all channels of one client. */
export class Connection {
  private current: ConnectionState = 'idle';
  private socket: WebSocketLike | undefined;
  private refCounter = 0;
  private tries = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private heartbeatRef: string | undefined;
  private token: string | null = null;
  private manualToken: string | null | undefined;
  private readonly pending = new Map<string, PendingReply>();
  private readonly endpoints = new Map<string, ChannelEndpoint>();
  private readonly stateListeners = new Set<(state: ConnectionState, detail: StateChangeDetail) => void>();
  private closedWaiters: Array<() => void> = [];

  constructor(private readonly options: ResolvedOptions) {}

  /** The current state. */
  get state(): ConnectionState {
    return this.current;
  }

  /** True when messages can be written now. */
  get isOpen(): boolean {
    return this.current === 'open' && this.socket?.readyState === SOCKET_OPEN;
  }

  /** The access token sent with joins. */
  get accessToken(): string | null {
    return this.token;
  }

  /** Calls `listener` on every state change; returns a function that stops it. */
  onStateChange(listener: (state: ConnectionState, detail: StateChangeDetail) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** A fresh message ref. */
  makeRef(): string {
    this.refCounter += 1;
    return String(this.refCounter);
  }

  register(endpoint: ChannelEndpoint): void {
    this.endpoints.set(endpoint.topic, endpoint);
  }

  unregister(endpoint: ChannelEndpoint): void {
    if (this.endpoints.get(endpoint.topic) === endpoint) this.endpoints.delete(endpoint.topic);
  }

  /** Opens the connection unless it is open or opening. */
  connect(): void {
    if (this.current === 'idle' || this.current === 'closed') {
      this.tries = 0;
      void this.open();
    }
  }

  /** Closes the connection for good (until `connect()`); resolves once the socket has closed. */
  disconnect(): Promise<void> {
    const socket = this.socket;
    this.setState('closed', { reason: 'disconnect requested' });
    clearTimeout(this.reconnectTimer);
    this.stopHeartbeat();
    this.failPending();
    if (!socket || socket.readyState > SOCKET_OPEN) {
      this.socket = undefined;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(finish, 1000);
      this.closedWaiters.push(finish);
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      socket.close(1000, 'client disconnect');
    });
  }

  /** Writes a message as a V2 text frame. */
  send(message: Message): void {
    this.socket?.send(encodeText(message, '2.0.0'));
  }

  /** Writes a binary frame. */
  sendBinary(frame: Uint8Array): void {
    this.socket?.send(frame);
  }

  /**
   * Writes a message (or binary frame) whose `ref` is `ref`, and calls `onReply` once with the
   * server's reply, or with `timeout` after `timeoutMs`, or with `lost` if the connection drops first.
   */
  request(frame: Message | Uint8Array, ref: string, onReply: (reply: Reply) => void, timeoutMs = this.options.timeoutMs): void {
    const timer = setTimeout(() => this.settle(ref, { status: 'timeout', response: undefined }), timeoutMs);
    this.pending.set(ref, { onReply, timer });
    if (frame instanceof Uint8Array) this.sendBinary(frame);
    else this.send(frame);
  }

  /** Forgets a pending request without calling its callback. */
  cancel(ref: string): void {
    const pending = this.pending.get(ref);
    if (pending) clearTimeout(pending.timer);
    this.pending.delete(ref);
  }

  /** Sets the access token (null for none), replacing the `accessToken` option, and sends it to joined channels. */
  async setAuth(token: string | null): Promise<void> {
    this.manualToken = token;
    await this.refreshToken();
  }

  private async open(): Promise<void> {
    this.setState(this.tries === 0 ? 'connecting' : 'reconnecting');
    let socket: WebSocketLike;
    try {
      const WebSocketImpl = await resolveWebSocket(this.options.transport);
      await this.refreshToken();
      if (this.current === 'closed') return;
      socket = new WebSocketImpl(websocketUrl(this.options.url, this.options.apiKey ?? this.token ?? undefined));
    } catch (error) {
      this.handleOpenFailure(error);
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      opened = true;
      this.tries = 0;
      this.setState('open');
      this.startHeartbeat();
      for (const endpoint of [...this.endpoints.values()]) endpoint.handleOpen();
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onerror = () => undefined;
    socket.onclose = (event) => {
      const detail = `${event.code}${event.reason ? `, ${event.reason}` : ''}`;
      if (socket === this.socket) this.lost(opened ? `connection closed (${detail})` : `could not connect to ${this.options.url} (${detail})`);
      for (const waiter of this.closedWaiters.splice(0)) waiter();
    };
  }

  private handleOpenFailure(error: unknown): void {
    if (error instanceof RealtimeError && error.code === 'TRANSPORT_UNAVAILABLE') {
      this.setState('closed', { error, reason: error.message });
      for (const endpoint of [...this.endpoints.values()]) endpoint.handleLost(error.message);
      return;
    }
    const reason = `could not connect: ${error instanceof Error ? error.message : String(error)}`;
    this.lost(reason);
  }

  /** Drops the socket (if any), tells the channels, and schedules a reconnect unless closed on purpose. */
  private lost(reason: string): void {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      socket.onmessage = null;
      socket.onopen = null;
      if (socket.readyState <= SOCKET_OPEN) socket.close(1000, reason.slice(0, 120));
    }
    this.stopHeartbeat();
    this.failPending();
    for (const endpoint of [...this.endpoints.values()]) endpoint.handleLost(reason);
    if (this.current === 'closed') return;
    this.tries += 1;
    this.setState('reconnecting', { reason });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.open(), this.options.reconnectDelayMs(this.tries));
  }

  private receive(data: unknown): void {
    let message: Message;
    try {
      message = typeof data === 'string' ? decodeText(data, '2.0.0') : binaryMessage(data);
    } catch {
      return;
    }
    if (message.event === ChannelEvent.reply && message.ref !== null && this.pending.has(message.ref)) {
      const payload = (message.payload ?? {}) as { status?: unknown; response?: unknown };
      this.settle(message.ref, { status: payload.status === ReplyStatus.ok ? 'ok' : 'error', response: payload.response });
      return;
    }
    this.endpoints.get(message.topic)?.handleMessage(message);
  }

  private settle(ref: string, reply: Reply): void {
    const pending = this.pending.get(ref);
    if (!pending) return;
    this.pending.delete(ref);
    clearTimeout(pending.timer);
    pending.onReply(reply);
  }

  private failPending(): void {
    for (const ref of [...this.pending.keys()]) this.settle(ref, { status: 'lost', response: undefined });
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.options.heartbeatIntervalMs);
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.heartbeatRef = undefined;
  }

  private async heartbeat(): Promise<void> {
    if (this.heartbeatRef !== undefined) {
      this.lost('heartbeat timeout');
      return;
    }
    const ref = this.makeRef();
    this.heartbeatRef = ref;
    this.request(
      { joinRef: null, ref, topic: PHOENIX_TOPIC, event: ChannelEvent.heartbeat, payload: {} },
      ref,
      (reply) => {
        if (reply.status !== 'lost' && this.heartbeatRef === ref) this.heartbeatRef = undefined;
      },
      this.options.heartbeatIntervalMs * 2,
    );
    try {
      await this.refreshToken();
    } catch {
      // A failing token function keeps the current token; the next heartbeat tries again.
    }
  }

  private async refreshToken(): Promise<void> {
    const source = this.manualToken !== undefined ? this.manualToken : this.options.accessToken;
    const value = typeof source === 'function' ? await source() : source;
    const token = value ?? null;
    if (token === this.token) return;
    this.token = token;
    if (this.isOpen) for (const endpoint of [...this.endpoints.values()]) endpoint.handleToken(token);
  }

  private setState(state: ConnectionState, detail: StateChangeDetail = {}): void {
    if (state === this.current && !detail.error) return;
    this.current = state;
    for (const listener of [...this.stateListeners]) listener(state, detail);
  }
}

/** A kind-4 binary frame as the broadcast message it carries. */
function binaryMessage(data: unknown): Message {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data instanceof Uint8Array ? data : undefined;
  if (!bytes) throw new RealtimeError('INVALID_ARGUMENT', 'unsupported frame type');
  const frame = decodeBroadcast(bytes);
  const payload = { type: FeatureEvent.broadcast, event: frame.event, payload: frame.payload, ...(frame.meta ? { meta: frame.meta } : {}) };
  return { joinRef: null, ref: null, topic: frame.topic, event: FeatureEvent.broadcast, payload };
}
