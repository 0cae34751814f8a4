// Baseline: a bare `ws` server. Publishers (path /pub) send a text; it goes as one pre-serialised frame to every socket of the room; anything else is echoed.
// With BARE_WS_LISTEN ({"url","channel","room","pad"}) it also LISTENs on a PostgreSQL channel and fans every notification out to the room.
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import pg from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';

type FrameBuilder = { frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
const { Sender } = wsModule as unknown as { Sender: FrameBuilder };
const TEXT_OPCODE = 1;

const rooms = new Map<string, Set<WebSocket>>();
const http = createServer((_request, response) => response.writeHead(404).end());
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });

wss.on('connection', (ws, request) => {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const room = url.searchParams.get('room') ?? 'default';
  if (url.pathname === '/pub') {
    ws.on('message', (data) => broadcast(room, data as Buffer));
    return;
  }
  const members = rooms.get(room) ?? new Set<WebSocket>();
  rooms.set(room, members);
  members.add(ws);
  ws.on('message', (data) => ws.send(data as Buffer, { binary: false }));
  ws.on('close', () => members.delete(ws));
  ws.on('error', () => undefined);
});

/** Frames the message once and writes the same bytes to every socket of the room, ignoring how much each has buffered. */
function broadcast(room: string, data: Buffer): void {
  const [header, body] = Sender.frame(data, { fin: true, opcode: TEXT_OPCODE, mask: false, readOnly: true, rsv1: false });
  for (const ws of rooms.get(room) ?? []) {
    const socket = (ws as unknown as { _socket: Socket })._socket;
    if (ws.readyState !== ws.OPEN) continue;
    socket.cork();
    socket.write(header as Buffer);
    if (body) socket.write(body);
    socket.uncork();
  }
}

/** The raw side of table changes with a fan-out: each `s,t` notification as a numbered JSON text the size of a row. */
async function relayNotifications(spec: { url: string; channel: string; room: string; pad: number }): Promise<void> {
  const client = new pg.Client({ connectionString: spec.url });
  await client.connect();
  const body = JSON.stringify('x'.repeat(spec.pad));
  client.on('notification', (note) => {
    const [s, t] = (note.payload ?? '').split(',');
    broadcast(spec.room, Buffer.from(`{"s":${s},"t":${t},"body":${body}}`));
  });
  await client.query(`LISTEN ${pg.escapeIdentifier(spec.channel)}`);
}

const relay = process.env['BARE_WS_LISTEN'];
if (relay) await relayNotifications(JSON.parse(relay) as { url: string; channel: string; room: string; pad: number });

http.listen(0, '127.0.0.1', () => {
  const address = http.address();
  process.stdout.write(`${JSON.stringify({ ready: true, port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
