// Light subscriber clients for each server kind over raw `ws`: connect, join the topic, and report every numbered message.
import WebSocket from 'ws';
import { PhoenixSocket, type Frame } from './phoenix.js';
import type { Target } from './services.js';

/** What a subscriber joins: a topic (room, channel) and, for nself, the join's `config` and token. */
export interface SubscriberSpec {
  readonly topic: string;
  readonly config?: Record<string, unknown>;
  readonly token?: string;
  /** nself: presence to track once joined. */
  readonly track?: Record<string, unknown>;
}

/** A numbered message as received: sequence number, send time, and (nself broadcasts) the channel offset. */
export interface Numbered {
  readonly s: number;
  readonly t: number;
  readonly offset?: number;
}

/** What a subscriber reports. */
export interface SubscriberEvents {
  message(message: Numbered): void;
  closed?(code: number): void;
  /** nself: the WebSocket is open, before the join is sent. */
  connected?(): void;
}

/** An open, joined subscriber. */
export interface Subscriber {
  readonly ws: WebSocket;
  close(): void;
}

/** Connects and joins; resolves once the server confirmed the join (or the socket is open where there is no join). */
export async function openSubscriber(target: Target, spec: SubscriberSpec, events: SubscriberEvents): Promise<Subscriber> {
  switch (target.kind) {
    case 'nself':
      return openPhoenix(target, spec, events);
    case 'ws':
      return openPlain(`ws://127.0.0.1:${target.port}/?room=${encodeURIComponent(spec.topic)}`, events);
    case 'nchan':
      return openPlain(`ws://127.0.0.1:${target.port}/sub/${encodeURIComponent(spec.topic)}`, events);
    case 'socketio':
      return openSocketIo(target, spec, events);
  }
}

/** The nself WebSocket endpoint with a token, protocol 2.0.0. */
export function nselfUrl(target: Target, token = target.token): string {
  return `ws://127.0.0.1:${target.port}/realtime/v1/websocket?apikey=${encodeURIComponent(token ?? '')}&vsn=2.0.0`;
}

async function openPhoenix(target: Target, spec: SubscriberSpec, events: SubscriberEvents): Promise<Subscriber> {
  const socket = await PhoenixSocket.connect(nselfUrl(target, spec.token));
  events.connected?.();
  socket.ws.on('close', (code) => events.closed?.(code));
  const changesReady = Array.isArray(spec.config?.['postgres_changes']) ? postgresChangesReady(socket) : undefined;
  changesReady?.catch(() => undefined); // Awaited after the join; a failed join must not leave it unhandled.
  const onFrame = socket.onFrame;
  socket.onFrame = (frame) => {
    onFrame(frame);
    onPhoenixFrame(frame, events);
  };
  socket.onRaw = (raw) => {
    // Broadcasts and table changes are read without parsing the whole frame, so the load generator stays light.
    if (raw.includes('"presence_')) return false;
    const message = readNumbered(raw);
    if (message) events.message(message);
    return message !== undefined;
  };
  const topic = `realtime:${spec.topic}`;
  try {
    await socket.join(topic, { config: spec.config ?? { broadcast: { self: false } } });
    if (spec.track) await socket.call(topic, 'presence', { type: 'presence', event: 'track', payload: spec.track });
    await changesReady;
    return { ws: socket.ws, close: () => socket.close() };
  } catch (error) {
    socket.close();
    throw error;
  }
}

const CHANGES_READY_TIMEOUT_MS = 15_000;

/** Resolves when the server says table changes flow ("Subscribed to PostgreSQL"); rejects with its error message. */
export function postgresChangesReady(socket: PhoenixSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('postgres_changes: no "Subscribed to PostgreSQL" within 15 s')), CHANGES_READY_TIMEOUT_MS);
    socket.onFrame = (frame) => {
      const payload = frame[4] as { extension?: string; status?: string; message?: string };
      if (frame[3] !== 'system' || payload.extension !== 'postgres_changes') return;
      clearTimeout(timer);
      if (payload.status === 'ok') resolve();
      else reject(new Error(`postgres_changes: ${payload.message ?? 'subscription refused'}`));
    };
  });
}

/** Presence diffs, parsed in full: each join whose meta is numbered. */
function onPhoenixFrame(frame: Frame, events: SubscriberEvents): void {
  const event = frame[3];
  const payload = frame[4];
  if (event === 'presence_diff') {
    const joins = payload['joins'] as Record<string, { metas: Numbered[] }> | undefined;
    for (const entry of Object.values(joins ?? {})) for (const meta of entry.metas) if (typeof meta.s === 'number') events.message({ s: meta.s, t: meta.t });
  }
}

/**
 * Reads `"s":<n>`, `"t":<ms>` and, when present, `"offset":<n>` from a frame's text: the numbered
 * body of every benchmark message (a broadcast payload, or a row with columns s and t).
 */
function readNumbered(text: string): Numbered | undefined {
  const s = numberAfter(text, '"s":');
  const t = numberAfter(text, '"t":');
  if (s === undefined || t === undefined) return undefined;
  const offset = numberAfter(text, '"offset":');
  return offset === undefined ? { s, t } : { s, t, offset };
}

function numberAfter(text: string, key: string): number | undefined {
  const at = text.indexOf(key);
  if (at < 0) return undefined;
  let end = at + key.length;
  while (end < text.length && '0123456789.-e+'.includes(text[end] ?? ' ')) end += 1;
  const value = Number(text.slice(at + key.length, end));
  return Number.isFinite(value) ? value : undefined;
}

function openPlain(url: string, events: SubscriberEvents): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve({ ws, close: () => ws.close() }));
    ws.once('error', reject);
    ws.on('close', (code) => events.closed?.(code));
    ws.on('message', (data) => {
      const message = readNumbered(data.toString());
      if (message) events.message(message);
    });
  });
}

function openSocketIo(target: Target, spec: SubscriberSpec, events: SubscriberEvents): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${target.port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
    ws.once('error', reject);
    ws.on('close', (code) => events.closed?.(code));
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('42')) {
        const message = readNumbered(text);
        if (message) events.message(message);
      } else if (text === '2') {
        ws.send('3');
      } else if (text.startsWith('0')) {
        ws.send('40');
      } else if (text.startsWith('40')) {
        ws.send(`420${JSON.stringify(['join', spec.topic])}`);
      } else if (text.startsWith('430')) {
        resolve({ ws, close: () => ws.close() });
      }
    });
  });
}
