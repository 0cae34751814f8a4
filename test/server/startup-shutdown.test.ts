// Startup and shutdown under attack: development mode stays on loopback, weak secrets are refused in
// production, and a shutdown mid-burst acks every broadcast it stored before closing the socket.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { loadConfig, startServer, type StartOptions } from '@nself/server';
import { realtime } from '../helpers/cli.js';
import { RawClient } from './raw-client.js';
import type { TestDatabase } from '../helpers/database.js';
import { createTestDatabase } from '../helpers/database.js';
import { JWT_SECRET } from '../helpers/tokens.js';
import { sleep, waitFor } from '../helpers/wait.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase({ migrated: true });
});
after(async () => {
  await db.drop();
});

/** An address of this machine that other machines reach it by (not loopback), if it has one. */
const externalAddress = Object.values(os.networkInterfaces())
  .flat()
  .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;

async function start(options: StartOptions): Promise<{ server: Awaited<ReturnType<typeof startServer>>; log: () => Promise<string> }> {
  const logFile = path.join(os.tmpdir(), `nself-startup-${randomBytes(4).toString('hex')}.log`);
  const server = await startServer({ port: 0, databaseUrl: db.url, logToStdout: false, logFile, env: {}, ...options });
  return { server, log: () => readFile(logFile, 'utf8') };
}

function reachable(host: string, port: number): Promise<boolean> {
  return fetch(`http://${host}:${port}/healthcheck`, { signal: AbortSignal.timeout(3_000) }).then(
    (response) => response.ok,
    () => false,
  );
}

test('development mode listens on 127.0.0.1 only and says so; REALTIME_HOST or a secret opens it to other machines', async () => {
  const development = await start({});
  try {
    assert.equal(development.server.config.host, '127.0.0.1');
    assert.equal(await reachable('127.0.0.1', development.server.port), true);
    if (externalAddress) assert.equal(await reachable(externalAddress, development.server.port), false, `reached on ${externalAddress}`);
    assert.match(await development.log(), /DEVELOPMENT MODE: .*listening on 127\.0\.0\.1 only; set REALTIME_HOST=0\.0\.0\.0 and a JWT secret to accept other machines/);
  } finally {
    await development.server.close();
  }
  const chosen = await start({ env: { REALTIME_HOST: '0.0.0.0' } });
  try {
    assert.equal(chosen.server.config.host, '0.0.0.0');
    if (externalAddress) assert.equal(await reachable(externalAddress, chosen.server.port), true);
    assert.match(await chosen.log(), /DEVELOPMENT MODE: no REALTIME_JWT_SECRET/);
  } finally {
    await chosen.server.close();
  }
  const secured = await start({ jwtSecret: JWT_SECRET });
  try {
    assert.equal(secured.server.config.host, '0.0.0.0');
    if (externalAddress) assert.equal(await reachable(externalAddress, secured.server.port), true);
  } finally {
    await secured.server.close();
  }
  assert.equal(loadConfig({}).host, '127.0.0.1');
  assert.equal(loadConfig({ REALTIME_JWT_SECRET: JWT_SECRET }).host, '0.0.0.0');
});

test('NODE_ENV=production refuses a JWT secret under 32 bytes and says how to make one; elsewhere it starts with a warning', async () => {
  const refusal = /the JWT secret is 1 bytes; NODE_ENV=production needs at least 32 random bytes \(make one with `openssl rand -base64 32`/;
  assert.throws(() => loadConfig({ NODE_ENV: 'production', REALTIME_JWT_SECRET: 'x' }), refusal);
  assert.throws(() => loadConfig({ NODE_ENV: 'production', HASURA_GRAPHQL_JWT_SECRET: '{"type":"HS256","key":"x"}' }), refusal);
  assert.equal(loadConfig({ NODE_ENV: 'production', REALTIME_JWT_SECRET: JWT_SECRET }).jwtSecret, JWT_SECRET);
  await assert.rejects(
    startServer({ port: 0, databaseUrl: db.url, logToStdout: false, jwtSecret: 'x', env: { NODE_ENV: 'production', REALTIME_JWT_SECRET: JWT_SECRET } }),
    refusal,
  );
  const cli = await realtime(['start'], { databaseUrl: db.url, env: { NODE_ENV: 'production', REALTIME_JWT_SECRET: 'x', REALTIME_PORT: '0' } });
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, refusal);

  const weak = await start({ jwtSecret: 'short' });
  try {
    assert.match(await weak.log(), /WEAK JWT SECRET: it is 5 bytes.*at least 32 random bytes \(`openssl rand -base64 32`\)/);
  } finally {
    await weak.server.close();
  }
});

test('a shutdown in the middle of a burst acks every broadcast it stored before the close frame', async () => {
  const { server } = await start({});
  const client = await RawClient.open(server);
  await client.join('realtime:burst', '1', { broadcast: { self: false, ack: true } });
  const send = (ref: string) => client.send(['1', ref, 'realtime:burst', 'broadcast', { type: 'broadcast', event: 'tick', payload: { ref } }]);
  send('first');
  await client.reply('first');
  // Hold the channel's row so that the burst's writes are still in flight when the shutdown begins.
  const locker = new pg.Client({ connectionString: db.url });
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query("SELECT 1 FROM realtime.channels WHERE slug = 'burst' FOR UPDATE");
  for (let n = 0; n < 200; n++) send(`burst-${n}`);
  await sleep(200);
  const closing = server.close();
  await sleep(300);
  send('late');
  const late = await client.reply('late');
  assert.deepEqual(
    late[4],
    { status: 'error', response: { reason: 'RealtimeRestarting: Realtime is restarting, please standby' } },
    'a broadcast sent once the shutdown began is refused with the text that makes clients send it again elsewhere',
  );
  await locker.query('COMMIT');
  await locker.end();
  await closing;
  assert.equal(await client.closed(), 1001);
  const acked = client.frames.filter((frame) => frame[3] === 'phx_reply' && (frame[4] as { status?: string }).status === 'ok' && frame[1] !== '1');
  const { rows } = await db.pool.query<{ count: number }>(
    "SELECT count(*)::int AS count FROM realtime.messages m JOIN realtime.channels c ON c.id = m.channel_id WHERE c.slug = 'burst'",
  );
  assert.equal(rows[0]?.count, acked.length, 'every stored broadcast was acked before the socket closed');
  assert.ok(acked.length > 1, 'the burst was stored');
  await waitFor(() => client.closeCode !== undefined, 'the close');
});
