// Publishers for each server kind, and a pacer that publishes numbered, timestamped messages at a fixed rate.
import WebSocket from 'ws';
import { PhoenixSocket } from './phoenix.js';
import type { Target } from './services.js';
import { nowMs } from './stats.js';
import { nselfUrl } from './subscriber-clients.js';

/** Sends a message (already JSON text) to a topic. */
export interface Publisher {
  publish(topic: string, json: string): void;
  close(): void;
}

/** Connects a publisher to `target` for `topics` (for nself: joined without `self`). */
export async function openPublisher(target: Target, topics: readonly string[]): Promise<Publisher> {
  switch (target.kind) {
    case 'nself': {
      const socket = await PhoenixSocket.connect(nselfUrl(target));
      for (const topic of topics) await socket.join(`realtime:${topic}`, { config: { broadcast: { self: false } } });
      return {
        publish: (topic, json) =>
          socket.ws.send(
            `[${JSON.stringify(socket.joinRefs.get(`realtime:${topic}`) ?? null)},null,${JSON.stringify(`realtime:${topic}`)},"broadcast",{"type":"broadcast","event":"m","payload":${json}}]`,
          ),
        close: () => socket.close(),
      };
    }
    case 'ws': {
      const sockets = new Map(
        await Promise.all(topics.map(async (topic) => [topic, await openSocket(`ws://127.0.0.1:${target.port}/pub?room=${encodeURIComponent(topic)}`)] as const)),
      );
      return {
        publish: (topic, json) => sockets.get(topic)?.send(json),
        close: () => {
          for (const ws of sockets.values()) ws.close();
        },
      };
    }
    case 'socketio': {
      const ws = await openSocketIoPublisher(target);
      return { publish: (topic, json) => ws.send(`42["publish",${JSON.stringify(topic)},${json}]`), close: () => ws.close() };
    }
    case 'nchan': {
      // A WebSocket publisher keeps the messages of a channel in order (parallel HTTP POSTs would not).
      const sockets = new Map(await Promise.all(topics.map(async (topic) => [topic, await openSocket(`ws://127.0.0.1:${target.port}/pub/${encodeURIComponent(topic)}`)] as const)));
      return {
        publish: (topic, json) => sockets.get(topic)?.send(json),
        close: () => {
          for (const ws of sockets.values()) ws.close();
        },
      };
    }
  }
}

function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function openSocketIoPublisher(target: Target): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${target.port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
    ws.once('error', reject);
    ws.on('message', (data) => {
      const text = data.toString();
      if (text === '2') ws.send('3');
      else if (text.startsWith('40')) resolve(ws);
      else if (text.startsWith('0')) ws.send('40');
    });
  });
}

/** A numbered, timestamped message body with `padding` extra bytes. */
export function numbered(seq: number, padding: string): string {
  return `{"s":${seq},"t":${nowMs()},"p":"${padding}"}`;
}

/**
 * Publishes `rate` messages per second for `durationMs`, round-robin over `topics`, numbering each
 * topic's messages on from `sent` (from 1 when not given). Returns the last number sent per topic.
 */
export async function publishPaced(
  publisher: Publisher,
  topics: readonly string[],
  rate: number,
  durationMs: number,
  payloadBytes: number,
  sent: Record<string, number> = {},
): Promise<Record<string, number>> {
  const padding = 'x'.repeat(Math.max(0, payloadBytes - 40));
  for (const topic of topics) sent[topic] ??= 0;
  const started = nowMs();
  let total = 0;
  const limit = Math.round((rate * durationMs) / 1000);
  while (total < limit) {
    const due = Math.min(limit, Math.floor(((nowMs() - started) * rate) / 1000));
    while (total < due) {
      const topic = topics[total % topics.length] ?? '';
      sent[topic] = (sent[topic] ?? 0) + 1;
      publisher.publish(topic, numbered(sent[topic] ?? 0, padding));
      total += 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return sent;
}
