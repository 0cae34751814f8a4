// RealtimeClient: the entry point of the SDK, holding the connection and the channels.
import { reconnectDelay } from './backoff.js';
import { RealtimeChannel, type ChannelHost } from './channel.js';
import type { ChannelOptions } from './join-config.js';
import { Connection, type ConnectionState, type StateChangeDetail } from './connection.js';
import { resolveOptions, type RealtimeClientOptions } from './options.js';

/**
 * A client of the nself realtime server.
 *
 * @example
 * const client = new RealtimeClient({ url: 'ws://localhost:3100', apiKey: 'your-api-key' });
 * const channel = client.channel('general');
 * channel.on('message.sent', (payload) => console.log(payload));
 * await channel.send({ type: 'broadcast', event: 'message.sent', payload: { text: 'Hello' } });
 */
export class RealtimeClient {
  private readonly connection: Connection;
  private readonly channels = new Map<string, RealtimeChannel>();
  private readonly host: ChannelHost;

  /** Checks the options (throwing a RealtimeError naming a bad one); connects on the first channel. */
  constructor(options: RealtimeClientOptions) {
    const resolved = resolveOptions(options, reconnectDelay);
    this.connection = new Connection(resolved);
    this.host = {
      connection: this.connection,
      maxQueuedSends: resolved.maxQueuedSends,
      timeoutMs: resolved.timeoutMs,
      reconnectDelayMs: resolved.reconnectDelayMs,
      forget: (channel) => {
        if (this.channels.get(channel.topic) === channel) this.channels.delete(channel.topic);
      },
    };
  }

  /** The connection's state: idle, connecting, open, reconnecting or closed. */
  get state(): ConnectionState {
    return this.connection.state;
  }

  /**
   * The channel `name` (the same object for the same name until it is unsubscribed). It joins on
   * its own right after the current synchronous code, so listeners added in the same tick are part
   * of the join; `subscribe(callback)` joins at once and reports its status.
   */
  channel(name: string, options: ChannelOptions = {}): RealtimeChannel {
    const existing = this.channels.get(`realtime:${name}`);
    if (existing) return existing;
    const channel = new RealtimeChannel(name, options, this.host);
    this.channels.set(channel.topic, channel);
    queueMicrotask(() => channel.autoJoin());
    return channel;
  }

  /** The channels in use. */
  getChannels(): RealtimeChannel[] {
    return [...this.channels.values()];
  }

  /** Leaves a channel (same as `channel.unsubscribe()`). */
  removeChannel(channel: RealtimeChannel): Promise<void> {
    return channel.unsubscribe();
  }

  /** Opens the connection now (channels do it on their own). */
  connect(): void {
    this.connection.connect();
  }

  /** Closes every channel (rejecting their waiting sends) and the connection; resolves once closed. */
  async disconnect(): Promise<void> {
    for (const channel of [...this.channels.values()]) channel.close();
    await this.connection.disconnect();
  }

  /** Uses `token` as the access token from now on (null for none) and sends it to every joined channel. */
  setAuth(token: string | null): Promise<void> {
    return this.connection.setAuth(token);
  }

  /** Calls `listener` on each connection state change (with the reason of a close); returns a function that stops it. */
  onStateChange(listener: (state: ConnectionState, detail: StateChangeDetail) => void): () => void {
    return this.connection.onStateChange(listener);
  }
}
