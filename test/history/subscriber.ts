// A light protocol client for fault tests: joins one channel over V2 text frames and keeps only the offsets it receives.
import WebSocket from 'ws';

interface Reply {
  readonly status: string;
  readonly response: Record<string, unknown>;
}

/** One WebSocket joined to one channel, recording broadcast offsets in arrival order. */
export class OffsetSubscriber {
  readonly offsets: number[] = [];
  /** Offsets of broadcasts marked `replayed`. */
  readonly replayed: number[] = [];
  /** `system` messages received on the channel. */
  readonly systems: Array<Record<string, unknown>> = [];
  /** The close code, once the socket closed. */
  closeCode: number | undefined;
  private readonly replies = new Map<string, (reply: Reply) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('close', (code) => {
      this.closeCode = code;
    });
    ws.on('message', (data: Buffer, binary) => {
      if (binary) return;
      const [, ref, , event, payload] = JSON.parse(data.toString()) as [string | null, string | null, string, string, Record<string, unknown>];
      if (event === 'broadcast') {
        const meta = payload['meta'] as { offset: number; replayed?: boolean };
        this.offsets.push(meta.offset);
        if (meta.replayed) this.replayed.push(meta.offset);
      } else if (event === 'system') {
        this.systems.push(payload);
      } else if (event === 'phx_reply' && ref !== null) {
        this.replies.get(ref)?.(payload as unknown as Reply);
      }
    });
  }

  /**
   * Connects to the server on `port` and joins `realtime:<channel>` with `broadcast` options (as a
   * private channel with `token`'s identity when asked); resolves with the join reply.
   */
  static async join(
    port: number,
    channel: string,
    broadcast: Record<string, unknown> = {},
    options: { private?: boolean; token?: string } = {},
  ): Promise<{ subscriber: OffsetSubscriber; reply: Reply }> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/realtime/v1/websocket?vsn=2.0.0&apikey=dev`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const subscriber = new OffsetSubscriber(ws);
    const reply = await subscriber.request(
      [
        '1',
        '1',
        `realtime:${channel}`,
        'phx_join',
        {
          config: {
            broadcast: { self: false, ack: false, ...broadcast },
            presence: { key: '', enabled: false },
            postgres_changes: [],
            private: options.private === true,
          },
          ...(options.token ? { access_token: options.token } : {}),
        },
      ],
      '1',
    );
    return { subscriber, reply };
  }

  /** Sends a heartbeat now and then, so the server keeps the socket during long tests. */
  keepAlive(intervalMs = 10_000): void {
    const timer = setInterval(() => {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify([null, 'hb', 'phoenix', 'heartbeat', {}]));
    }, intervalMs);
    timer.unref();
    this.ws.once('close', () => clearInterval(timer));
  }

  /** Stops reading from the socket (the server's frames queue up), as a slow client does, until `resume`. */
  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  close(): void {
    this.ws.terminate();
  }

  private request(frame: unknown[], ref: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${String(frame[3])} in time`)), 10_000);
      this.replies.set(ref, (reply) => {
        clearTimeout(timer);
        this.replies.delete(ref);
        resolve(reply);
      });
      this.ws.send(JSON.stringify(frame));
    });
  }
}
