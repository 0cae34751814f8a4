// Several server machines on one PostgreSQL behind a load balancer (a local nginx, as docs/deployment.md configures it):
// supabase-js clients spread over the servers see one server, and keep working when one server dies.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { subscribe, supabase } from './support.js';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((candidate) => spawnSync(candidate, ['-v']).status === 0);
const skip = NGINX ? false : 'nginx is not installed (Debian: apt-get install nginx-light)';

let db: TestDatabase;
const servers: ServerProcess[] = [];
let nginx: ChildProcess | undefined;
let balancerPort = 0;
let nginxDir = '';
const clients: SupabaseClient[] = [];

/** The nginx configuration of docs/deployment.md, on loopback, with its files in `dir`. */
function nginxConfig(dir: string, port: number, upstreams: readonly number[]): string {
  return `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream realtime {
${upstreams.map((upstream) => `    server 127.0.0.1:${upstream};`).join('\n')}
  }
  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://realtime;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_read_timeout 120s;
      proxy_send_timeout 120s;
    }
  }
}
`;
}

before(async () => {
  if (skip) return;
  db = await createTestDatabase({ migrated: true });
  await db.pool.query('CREATE TABLE notes (id serial PRIMARY KEY, body text)');
  for (let index = 0; index < 2; index++) servers.push(await startServerProcess(db.url, await freePort()));
  balancerPort = await freePort();
  nginxDir = mkdtempSync(path.join(os.tmpdir(), 'nself-nginx-'));
  const config = path.join(nginxDir, 'nginx.conf');
  writeFileSync(
    config,
    nginxConfig(
      nginxDir,
      balancerPort,
      servers.map((server) => server.port),
    ),
  );
  nginx = spawn(NGINX as string, ['-c', config, '-p', nginxDir], { stdio: 'ignore' });
  await waitFor(
    () =>
      fetch(`http://127.0.0.1:${balancerPort}/healthcheck`).then(
        (response) => response.ok,
        () => false,
      ),
    'nginx to pass requests on',
  );
});

after(async () => {
  await Promise.all(clients.map((client) => client.removeAllChannels()));
  nginx?.kill('SIGQUIT');
  await Promise.all(servers.map((server) => server.stop()));
  await db?.drop();
  if (nginxDir) rmSync(nginxDir, { recursive: true, force: true });
});

async function connections(server: ServerProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  return Number(/^realtime_connections (\d+)/m.exec(text)?.[1] ?? 0);
}

test('clients behind nginx land on both servers and receive one broadcast, one presence join and one table change', { skip }, async () => {
  const seen: Array<{ broadcasts: string[]; joins: string[]; changes: string[] }> = [];
  const channels: RealtimeChannel[] = [];
  for (let index = 0; index < 4; index++) {
    const client = supabase({ port: balancerPort });
    clients.push(client);
    const record = { broadcasts: [] as string[], joins: [] as string[], changes: [] as string[] };
    seen.push(record);
    const channel = client
      .channel('behind-nginx', { config: { presence: { key: `user-${index}` } } })
      .on('broadcast', { event: 'hello' }, (message) => record.broadcasts.push(String((message.payload as { text?: string }).text)))
      .on('presence', { event: 'join' }, ({ key }) => record.joins.push(key))
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'notes' }, (change) => record.changes.push(String((change.new as { body?: string }).body)));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    channels.push(channel);
  }
  for (const server of servers) assert.ok((await connections(server)) >= 1, `server on port ${server.port} holds a connection`);

  await channels[0]?.send({ type: 'broadcast', event: 'hello', payload: { text: 'through nginx' } });
  await channels[1]?.track({ online: true });
  await sleep(300);
  await db.pool.query("INSERT INTO notes (body) VALUES ('one row')");
  await waitFor(
    () => seen.every((record, index) => (index === 0 || record.broadcasts.length === 1) && record.joins.includes('user-1') && record.changes.length === 1),
    () => `every client to see the broadcast, the join and the change: ${JSON.stringify(seen)}`,
  );
});

test('one server killed: its clients reconnect through nginx to the other and receive what is sent next', { skip }, async () => {
  const received: string[][] = [];
  const channels: RealtimeChannel[] = [];
  for (let index = 0; index < 4; index++) {
    const client = supabase({ port: balancerPort });
    clients.push(client);
    const events: string[] = [];
    received.push(events);
    const channel = client.channel('survivor').on('broadcast', { event: 'after' }, (message) => events.push(String((message.payload as { n?: number }).n)));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    channels.push(channel);
  }
  const [victim, survivor] = servers as [ServerProcess, ServerProcess];
  assert.ok((await connections(victim)) >= 1, 'the server to be killed holds clients');
  await victim.stop('SIGKILL');
  await waitFor(async () => (await connections(survivor)) >= clients.length, 'every client to be on the surviving server', 20_000);
  await waitFor(() => channels.every((channel) => channel.state === 'joined'), 'every channel to be joined again', 20_000);
  const response = await fetch(`http://127.0.0.1:${balancerPort}/api/broadcast`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ topic: 'survivor', event: 'after', payload: { n: 1 } }] }),
  });
  assert.equal(response.status, 202);
  await waitFor(
    () => received.every((events) => events.includes('1')),
    () => `every client to receive the broadcast sent after the kill: ${JSON.stringify(received)}`,
  );
});
