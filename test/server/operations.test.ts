// Operating the server: readiness follows the database, logs reach `nself realtime logs`, `status` sees the server.
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { realtime } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/database.js';
import { freePort, startServerProcess } from '../helpers/server-process.js';
import { startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

test('/ready answers 503 while the database refuses connections and 200 again once it is back', async () => {
  const db = await createTestDatabase({ migrated: true });
  db.pool.on('error', () => undefined);
  const server = await startTestServer(db);
  const admin = await createAdminClient();
  const name = admin.escapeIdentifier(new URL(db.url).pathname.slice(1));
  try {
    assert.equal((await fetch(`${server.url}/ready`)).status, 200);
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [new URL(db.url).pathname.slice(1)]);
    const down = await waitFor(async () => {
      const response = await fetch(`${server.url}/ready`);
      return response.status === 503 ? response : undefined;
    }, 'readiness to fail');
    assert.deepEqual(await down.json(), { status: 'unavailable', error: 'the database is unreachable' });
    assert.equal((await fetch(`${server.url}/healthcheck`)).status, 200, 'liveness does not depend on the database');
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    await waitFor(async () => (await fetch(`${server.url}/ready`)).status === 200, 'readiness to recover');
    await server.listener.ready();
  } finally {
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    await admin.end();
    await server.close();
    await db.drop();
  }
});

test('a server process logs to the file `nself realtime logs` reads, and `nself realtime status` sees it running', async () => {
  const db = await createTestDatabase();
  const port = await freePort();
  const logFile = path.join(os.tmpdir(), `nself-realtime-ops-${port}.log`);
  const server = await startServerProcess(db.url, port, { REALTIME_LOG_FILE: logFile });
  try {
    const env = { REALTIME_LOG_FILE: logFile, REALTIME_PORT: String(port), REALTIME_HOST: '127.0.0.1' };
    const logs = await realtime(['logs', '--lines', '20'], { databaseUrl: db.url, env });
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /"msg":"realtime server listening with 1 process \(REALTIME_WORKERS=1, the default without NODE_ENV=production\)"/);
    assert.match(logs.stdout, /DEVELOPMENT MODE/);
    assert.match(server.output(), /"msg":"realtime server listening with 1 process/, 'logs also go to stdout');
    const status = await realtime(['status', '--json'], { databaseUrl: db.url, env });
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { server: { running: boolean } }).server.running, true);
    const schema = await db.pool.query(`SELECT max(version)::int AS version FROM realtime.schema_migrations`);
    assert.ok(schema.rows[0].version >= 3, 'the server applied the migrations at start');
  } finally {
    assert.equal(await server.stop('SIGINT'), 0);
    await db.drop();
  }
});

test('`nself realtime start` refuses to run in production without a JWT secret', async () => {
  const db = await createTestDatabase();
  try {
    const result = await realtime(['start'], { databaseUrl: db.url, env: { NODE_ENV: 'production', REALTIME_JWT_SECRET: '', HASURA_GRAPHQL_JWT_SECRET: '' } });
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr.trim(),
      'error: NODE_ENV=production needs a way to verify client tokens: set REALTIME_JWT_SECRET, REALTIME_JWT_PUBLIC_KEY or REALTIME_JWKS_URL (or HASURA_GRAPHQL_JWT_SECRET)',
    );
  } finally {
    await db.drop();
  }
});

async function createAdminClient() {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: process.env.NSELF_TEST_ADMIN_URL });
  await client.connect();
  return client;
}
