// For server tests: unmodified supabase-js clients over `ws`, their subscriptions, and raw upgrade requests.
import { request } from 'node:http';
import WebSocket from 'ws';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { RealtimeChannel, WebSocketLikeConstructor } from '@supabase/realtime-js';

export const transport = WebSocket as unknown as WebSocketLikeConstructor;

/** An unmodified supabase-js client for the server, with `ws` as transport (Node 20). */
export function supabase(server: { port: number }, options: { key?: string; vsn?: '1.0.0' | '2.0.0'; accessToken?: string } = {}): SupabaseClient {
  const key = options.key ?? 'anon-development-key';
  return createClient(`http://127.0.0.1:${server.port}`, key, {
    realtime: { transport, vsn: options.vsn ?? '2.0.0', timeout: 5_000, heartbeatIntervalMs: 5_000, reconnectAfterMs: () => 200 },
    ...(options.accessToken ? { accessToken: async () => options.accessToken ?? null } : {}),
  });
}

/** Subscribes and resolves with the first final status (SUBSCRIBED, CHANNEL_ERROR, TIMED_OUT, CLOSED) and its error. */
export function subscribe(channel: RealtimeChannel): Promise<{ status: string; error?: Error }> {
  return new Promise((resolve) => {
    channel.subscribe((status, error) => resolve({ status, ...(error ? { error } : {}) }));
  });
}

/** Sends a raw WebSocket upgrade request; resolves with 101, or the refusal's status and JSON body. */
export function upgrade(server: { port: number }, pathAndQuery: string, headers: Record<string, string> = {}): Promise<{ status: number; body?: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: server.port,
      path: pathAndQuery,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (_response, socket) => {
      socket.destroy();
      resolve({ status: 101 });
    });
    req.on('response', (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text || 'null') }));
    });
    req.on('error', reject);
    req.end();
  });
}
