// A bare WebSocket client for protocol tests: sends V2 frames as given and collects every frame received.
import WebSocket from 'ws';
import { waitFor } from '../helpers/wait.js';

export type Frame = [string | null, string | null, string, string, Record<string, unknown>];

/** A raw protocol connection. */
export class RawClient {
  readonly frames: Frame[] = [];
  /** The text frames as received, for what parsing would change (numbers beyond 2^53). */
  readonly texts: string[] = [];
  readonly binaries: Buffer[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) this.binaries.push(data);
      else {
        this.texts.push(data.toString());
        this.frames.push(JSON.parse(data.toString()) as Frame);
      }
    });
    ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
    });
  }

  /** Opens a V2 connection (or `vsn` as given) to the server. */
  static async open(server: { port: number }, query = 'vsn=2.0.0&apikey=dev'): Promise<RawClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/realtime/v1/websocket?${query}`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
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
    this.send([
      ref,
      ref,
      topic,
      'phx_join',
      { config: { broadcast: { self: false, ack: false }, presence: { key: '', enabled: false }, postgres_changes: [], private: false, ...config }, ...extra },
    ]);
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

  /**
   * The presence of `topic` as Phoenix's rules make it from the frames received so far: the last
   * presence_state, then each presence_diff (leaves remove metas by `phx_ref`). Metas are given
   * without their refs, sorted, so that tests compare what users see.
   */
  presence(topic: string): Record<string, Array<Record<string, unknown>>> {
    type Metas = Array<Record<string, unknown>>;
    let start = this.frames.length - 1;
    while (start >= 0 && !(this.frames[start]?.[2] === topic && this.frames[start]?.[3] === 'presence_state')) start--;
    if (start < 0) return {};
    const state = new Map<string, Metas>(Object.entries(this.frames[start]?.[4] as Record<string, { metas: Metas }>).map(([key, { metas }]) => [key, [...metas]]));
    for (const frame of this.frames.slice(start + 1)) {
      if (frame[2] !== topic || frame[3] !== 'presence_diff') continue;
      const { joins, leaves } = frame[4] as { joins: Record<string, { metas: Metas }>; leaves: Record<string, { metas: Metas }> };
      for (const [key, { metas }] of Object.entries(joins)) state.set(key, [...(state.get(key) ?? []), ...metas]);
      for (const [key, { metas }] of Object.entries(leaves)) {
        const left = new Set(metas.map((meta) => meta['phx_ref']));
        const remaining = (state.get(key) ?? []).filter((meta) => !left.has(meta['phx_ref']));
        if (remaining.length > 0) state.set(key, remaining);
        else state.delete(key);
      }
    }
    return Object.fromEntries(
      [...state].map(([key, metas]) => [
        key,
        metas.map(({ phx_ref: _ref, phx_ref_prev: _prev, ...meta }) => meta).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      ]),
    );
  }
}
