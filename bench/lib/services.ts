// Starts the servers a benchmark compares: ours (as `nself realtime start` ships it), bare `ws`, Socket.IO and nginx with nchan.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findFreePort } from '@nself/db';
import { CPU, pidOf, spawnPinned, stopChild, usage, waitForLine } from './processes.js';
import { benchDir, repositoryRoot } from './paths.js';
import { SignJWT } from 'jose';
import { token } from '../../test/helpers/tokens.js';

/** The kinds of server a benchmark can start. */
export type ServiceKind = 'nself' | 'ws' | 'socketio' | 'nchan';

/** Where clients reach a server and how they speak to it. */
export interface Target {
  readonly kind: ServiceKind;
  readonly port: number;
  /** For nself: the JWT clients present (auth is on, as shipped). */
  readonly token?: string;
}

/** A running server under test. */
export interface Service {
  readonly target: Target;
  readonly label: string;
  /** CPU seconds and RSS bytes of the server's processes now. */
  usage(): { cpu: number; rss: number };
  stop(): Promise<void>;
}

/** Human names of each kind, used in result tables. */
export const SERVICE_LABELS: Record<ServiceKind, string> = {
  nself: 'nself realtime',
  ws: 'bare ws',
  socketio: 'Socket.IO rooms',
  nchan: 'nginx + nchan',
};

const NGINX = '/usr/sbin/nginx';
const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';
const JWT_SECRET = 'bench-secret-that-is-long-enough-for-hs256';

/** Whether nginx with the nchan module is installed (Debian packages nginx and libnginx-mod-nchan). */
export function nchanAvailable(): boolean {
  return existsSync(NGINX) && existsSync(NCHAN_MODULE);
}

/**
 * How a service is started: nself needs `databaseUrl`; any may get extra environment (nself: limits;
 * bare ws: BARE_WS_LISTEN) and a higher open-file limit. nself runs `workers` processes (REALTIME_WORKERS,
 * default 1) on the CPUs `cpus` (a taskset list; default the server's CPU, or every CPU with more than one worker).
 */
export interface ServiceOptions {
  readonly databaseUrl?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly openFiles?: number;
  readonly workers?: number;
  readonly cpus?: string;
  /** nself: the checkout whose build to run (this one by default), to compare with an earlier build. */
  readonly root?: string;
}

/** Starts a server of `kind`. */
export async function startService(kind: ServiceKind, options: ServiceOptions = {}): Promise<Service> {
  switch (kind) {
    case 'nself':
      return startNself(options).catch((error: unknown) => {
        // Once more: a build running in the same tree can replace the compiled server while it loads.
        process.stderr.write(`  nself did not start (${error instanceof Error ? error.message : String(error)}); trying again\n`);
        return startNself(options);
      });
    case 'ws':
      return startNodeServer(kind, path.join(benchDir, 'servers', 'bare-ws.ts'), options);
    case 'socketio':
      return startNodeServer(kind, path.join(benchDir, 'servers', 'socketio.ts'), options);
    case 'nchan':
      return startNchan();
  }
}

function service(kind: ServiceKind, child: ChildProcess, target: Target, pids: () => number[]): Service {
  return { target, label: SERVICE_LABELS[kind], usage: () => usage(pids()), stop: () => stopChild(child) };
}

async function startNself({ databaseUrl, env, openFiles, workers = 1, cpus, root = repositoryRoot }: ServiceOptions): Promise<Service> {
  if (!databaseUrl) throw new Error('the nself server needs a database');
  const child = spawnPinned(
    cpus ?? (workers > 1 ? CPU.all : CPU.server),
    process.execPath,
    [path.join(root, 'packages', 'cli', 'bin', 'nself.js'), 'realtime', 'start', '--port', '0', '--host', '127.0.0.1'],
    {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        REALTIME_JWT_SECRET: JWT_SECRET,
        REALTIME_LOG_LEVEL: 'info',
        REALTIME_LOG_FILE: path.join(tmpdir(), `nself-bench-${process.pid}.log`),
        NODE_ENV: 'production',
        REALTIME_WORKERS: String(workers),
        ...env,
      },
      ...(openFiles !== undefined ? { openFiles } : {}),
    },
  );
  const port = await waitForLine(child, (line) => {
    if (!line.includes('realtime server listening')) return undefined;
    return (JSON.parse(line) as { port: number }).port;
  });
  child.stdout?.resume();
  const clientToken = await nselfToken('bench-user');
  // With workers, the primary's children (node's cluster workers) do the work: count them all.
  return service('nself', child, { kind: 'nself', port, token: clientToken }, () => [pidOf(child), ...childrenOf(pidOf(child))]);
}

/** Signs a client token for the nself server started by `startService` (e.g. one per presence member); role `authenticated` unless given. */
export function nselfToken(userId: string, role?: string): Promise<string> {
  return token(userId, { secret: JWT_SECRET, role, expiresInSeconds: 24 * 60 * 60 });
}

/** Signs a token as Nhost's auth service issues it, for the nself server started by `startService`: `sub` and Hasura claims for `role`. */
export function hasuraClaimsToken(userId: string, role: string): Promise<string> {
  return new SignJWT({ 'https://hasura.io/jwt/claims': { 'x-hasura-default-role': role, 'x-hasura-allowed-roles': [role], 'x-hasura-user-id': userId } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + 24 * 60 * 60)
    .sign(new TextEncoder().encode(JWT_SECRET));
}

async function startNodeServer(kind: 'ws' | 'socketio', script: string, { env, openFiles }: ServiceOptions): Promise<Service> {
  const child = spawnPinned(CPU.server, process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    ...(openFiles !== undefined ? { openFiles } : {}),
  });
  const port = await waitForLine(child, (line) => (line.startsWith('{"ready"') ? (JSON.parse(line) as { port: number }).port : undefined));
  return service(kind, child, { kind, port }, () => [pidOf(child)]);
}

async function startNchan(): Promise<Service> {
  if (!nchanAvailable()) throw new Error('nginx with the nchan module is not installed (apt-get install nginx libnginx-mod-nchan)');
  const prefix = path.join(tmpdir(), `nself-bench-nchan-${process.pid}-${Date.now()}`);
  mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  const port = await findFreePort();
  writeFileSync(path.join(prefix, 'nginx.conf'), nchanConfig(prefix, port));
  const child = spawnPinned(CPU.server, NGINX, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')]);
  await waitForPort(port, child);
  const pids = () => [pidOf(child), ...childrenOf(pidOf(child))];
  return service('nchan', child, { kind: 'nchan', port }, pids);
}

function nchanConfig(prefix: string, port: number): string {
  return `load_module ${NCHAN_MODULE};
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 65000;
user root;
error_log ${prefix}/logs/error.log warn;
pid ${prefix}/nginx.pid;
events { worker_connections 60000; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port};
    location ~ ^/pub/(\\w+)$ { nchan_publisher websocket; nchan_channel_id $1; nchan_message_buffer_length 1000; nchan_message_timeout 1h; }
    location ~ ^/sub/(\\w+)$ { nchan_subscriber websocket; nchan_channel_id $1; nchan_subscriber_first_message newest; }
  }
}
`;
}

/** The processes `pid` started that still run (from /proc). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('nginx did not open its port within 10 s');
}
