// Chat example: serves a chat page that loads @nself/client as plain ES modules, using the realtime server already
// running on REALTIME_PORT (as after `npm start`) or starting one.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveDatabaseUrl } from '@nself/db';
import { startServer } from '@nself/server';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

/** URL prefixes served from directories: the page itself and the built SDK modules. */
const MOUNTS: Array<[prefix: string, directory: string]> = [
  ['/modules/client/', path.join(root, 'packages', 'client', 'dist')],
  ['/modules/protocol/', path.join(root, 'packages', 'protocol', 'dist')],
  ['/', path.join(here, 'public')],
];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

async function main(): Promise<void> {
  const port = Number(process.env.CHAT_PORT ?? 3200);
  const realtimePort = Number(process.env.REALTIME_PORT ?? 3100);
  let realtimeUrl = process.env.REALTIME_URL ?? (await runningRealtime(realtimePort));
  let stopRealtime = async (): Promise<void> => undefined;
  if (realtimeUrl) {
    process.stdout.write(`chat example: using the realtime server at ${realtimeUrl}\n`);
  } else {
    const realtime = await startServer({ port: realtimePort, databaseUrl: await resolveDatabaseUrl() });
    realtimeUrl = `ws://localhost:${realtime.port}`;
    stopRealtime = () => realtime.close();
  }
  const page = (await readFile(path.join(here, 'public', 'index.html'), 'utf8')).replace('%REALTIME_URL%', realtimeUrl);
  const server = createServer((request, response) => void serve(request, response, page));
  server.listen(port, () => {
    const address = server.address();
    const actual = typeof address === 'object' && address ? address.port : port;
    process.stdout.write(`chat example: open http://localhost:${actual}/?name=alice and http://localhost:${actual}/?name=bob (realtime server ${realtimeUrl})\n`);
  });
  const stop = (): void => {
    server.close();
    void stopRealtime().finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** The address of a realtime server already answering on `port` (its `/api/ping` says Success), else undefined. */
async function runningRealtime(port: number): Promise<string | undefined> {
  if (port === 0) return undefined;
  try {
    const response = await fetch(`http://localhost:${port}/api/ping`, { signal: AbortSignal.timeout(1_000) });
    const body = response.ok ? ((await response.json()) as { message?: unknown }) : undefined;
    return body?.message === 'Success' ? `ws://localhost:${port}` : undefined;
  } catch {
    return undefined;
  }
}

async function serve(request: IncomingMessage, response: ServerResponse, page: string): Promise<void> {
  const pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
  if (pathname === '/' || pathname === '/index.html') return send(response, 200, TYPES['.html']!, page);
  for (const [prefix, directory] of MOUNTS) {
    if (!pathname.startsWith(prefix)) continue;
    const file = path.resolve(directory, pathname.slice(prefix.length));
    if (!file.startsWith(directory + path.sep)) break;
    try {
      return send(response, 200, TYPES[path.extname(file)] ?? 'application/octet-stream', await readFile(file));
    } catch {
      break;
    }
  }
  send(response, 404, 'text/plain; charset=utf-8', 'not found');
}

function send(response: ServerResponse, status: number, type: string, body: string | Buffer): void {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  response.end(body);
}

main().catch((error: unknown) => {
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
