// A light Phoenix (Supabase Realtime, vsn 2.0.0) client over raw `ws`: join with a reply, pushes, heartbeats, raw frames out.
import WebSocket from 'ws';

/** A decoded V2 text frame: [join_ref, ref, topic, event, payload]. */
export type Frame = [string | null, string | null, string, string, Record<string, unknown>];

const HEARTBEAT_MS = 25_000;

/** The reason a join was refused, as the server sent it. */
export class JoinRefused extends Error {
  override readonly name = 'JoinRefused';
}

/** One WebSocket speaking the Phoenix protocol; `onFrame` sees every frame that is not a reply. */
export class PhoenixSocket {
  private refCounter = 0;
  private readonly waiting = new Map<string, { resolve: (response: Record<string, unknown>) => void; reject: (error: Error) => void }>();
  private readonly heartbeat: NodeJS.Timeout;
  readonly joinRefs = new Map<string, string>();
  onFrame: (frame: Frame) => void = () => undefined;
  /** Sees each frame's text first; returning true means it was handled and is not parsed. */
  onRaw: (raw: string) => boolean = () => false;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const raw = data.toString();
      if (this.onRaw(raw)) return;
      const frame = JSON.parse(raw) as Frame;
      if (frame[3] === 'phx_reply' && frame[1] !== null && this.waiting.has(frame[1])) {
        const pending = this.waiting.get(frame[1]);
        this.waiting.delete(frame[1]);
        const reply = frame[4] as { status?: string; response?: Record<string, unknown> };
        if (reply.status === 'ok') pending?.resolve(reply.response ?? {});
        else pending?.reject(new JoinRefused(String((reply.response as { reason?: unknown } | undefined)?.reason ?? JSON.stringify(reply.response))));
        return;
      }
      this.onFrame(frame);
    });
    ws.on('close', () => {
      clearInterval(this.heartbeat);
      for (const pending of this.waiting.values()) pending.reject(new Error('socket closed'));
      this.waiting.clear();
    });
    this.heartbeat = setInterval(() => this.send(null, 'phoenix', 'heartbeat', {}), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Opens a socket to `url` (an endpoint with `?apikey=…&vsn=2.0.0`); rejects with the HTTP refusal if any. */
  static connect(url: string): Promise<PhoenixSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once('open', () => resolve(new PhoenixSocket(ws)));
      ws.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused with HTTP ${response.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** Joins `realtime:<channel>` with a join payload; resolves with the reply's response. */
  join(topic: string, payload: Record<string, unknown>): Promise<Record<string, unknown>> {
    const ref = this.nextRef();
    this.joinRefs.set(topic, ref);
    return this.request(ref, ref, topic, 'phx_join', payload);
  }

  /** Sends a push and resolves with the reply's response (rejects on an error reply). */
  call(topic: string, event: string, payload: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.request(this.joinRefs.get(topic) ?? null, this.nextRef(), topic, event, payload);
  }

  /** Sends a push without waiting for a reply. */
  push(topic: string, event: string, payload: Record<string, unknown>): void {
    this.send(this.joinRefs.get(topic) ?? null, topic, event, payload);
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.ws.close();
  }

  private request(joinRef: string | null, ref: string, topic: string, event: string, payload: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.waiting.set(ref, { resolve, reject });
      this.ws.send(JSON.stringify([joinRef, ref, topic, event, payload]));
    });
  }

  private send(joinRef: string | null, topic: string, event: string, payload: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify([joinRef, this.nextRef(), topic, event, payload]));
  }

  private nextRef(): string {
    this.refCounter += 1;
    return String(this.refCounter);
  }
}
