// A bare WebSocket client for protocol tests: sends V2 frames as given and collects every frame received.
import WebSocket from 'ws';
import { waitFor } from './support.js';

export type Frame = [string | null, string | null, string, string, Record<string, unknown>];

/** A raw protocol connection. */
export class RawClient {
  readonly frames: Frame[] = [];
  readonly binaries: Buffer[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) this.binaries.push(data);
      else this.frames.push(JSON.parse(data.toString()) as Frame);
    });
    ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
    });
  }

  /** Opens a V2 connection (or `vsn` as given) to the server. */
  static async open(server: { port: number }, query = 'vsn=2.0.0&apikey=dev'): Promise<RawClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/realtime/v1/websocket?${query}`);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    return new RawClient(ws);
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** Waits for a frame matching `match` and returns it. */
  async expect(match: (frame: Frame) => boolean, what: string, timeoutMs = 5_000): Promise<Frame> {
    return waitFor(() => this.frames.find(match), what, timeoutMs);
  }

  /** Waits for the reply to `ref`. */
  reply(ref: string): Promise<Frame> {
    return this.expect((frame) => frame[1] === ref && frame[3] === 'phx_reply', `the reply to ref ${ref}`);
  }

  /** Joins a topic with a config and returns the reply. */
  async join(topic: string, ref: string, config: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<Frame> {
    this.send([ref, ref, topic, 'phx_join', { config: { broadcast: { self: false, ack: false }, presence: { key: '', enabled: false }, postgres_changes: [], private: false, ...config }, ...extra }]);
    return this.reply(ref);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.ws.once('close', resolve));
    this.ws.close();
    await closed;
  }

  /** Waits until the server closed the socket. */
  closed(timeoutMs = 5_000): Promise<number> {
    return waitFor(() => this.closeCode, 'the socket to close', timeoutMs);
  }
}
