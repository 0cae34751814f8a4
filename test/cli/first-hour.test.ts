// The first hour's frictions: --version, minting a token, output piped into `head`, a port already taken, and the
// project's embedded database found from its subdirectories.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { jwtVerify } from 'jose';
import { createChannel, stopEmbeddedPostgres } from '@nself/db';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realtime, REPO_ROOT } from '../helpers/cli.js';
import { freePort } from '../helpers/server-process.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase({ migrated: true });
});
after(async () => {
  await db.drop();
});

const SECRET = 'first-hour-secret-with-at-least-32-bytes';

test('nself realtime --version prints the version of the command line', async () => {
  const result = await realtime(['--version'], { databaseUrl: db.url });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('token mints a JWT the server would verify with its secret; without a secret, or in production, it says why not', async () => {
  const minted = await realtime(['token', 'user-123', '--role', 'service_role', '--ttl', '600'], { databaseUrl: db.url, env: { REALTIME_JWT_SECRET: SECRET } });
  assert.equal(minted.code, 0, minted.stderr);
  const { payload, protectedHeader } = await jwtVerify(minted.stdout.trim(), new TextEncoder().encode(SECRET));
  assert.equal(protectedHeader.alg, 'HS256');
  assert.equal(payload.sub, 'user-123');
  assert.equal(payload['role'], 'service_role');
  assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 600);

  const noSecret = await realtime(['token', 'user-123'], { databaseUrl: db.url, env: { REALTIME_JWT_SECRET: '' } });
  assert.equal(noSecret.code, 1);
  assert.match(noSecret.stderr, /^error: no shared secret to sign with: set REALTIME_JWT_SECRET/);
  const production = await realtime(['token', 'user-123'], { databaseUrl: db.url, env: { REALTIME_JWT_SECRET: SECRET, NODE_ENV: 'production' } });
  assert.equal(production.code, 1);
  assert.match(production.stderr, /refusing to mint a token with NODE_ENV=production.*--force/);
  const forced = await realtime(['token', 'user-123', '--force'], { databaseUrl: db.url, env: { REALTIME_JWT_SECRET: SECRET, NODE_ENV: 'production' } });
  assert.equal(forced.code, 0, forced.stderr);
});

test('a long listing piped into a reader that stops early ends quietly, with no stack trace', async () => {
  for (let index = 0; index < 400; index++) await createChannel(db.pool, { name: `piped-${String(index).padStart(3, '0')}-${'x'.repeat(60)}` });
  const outcome = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(
      'sh',
      ['-c', `node ${JSON.stringify(path.join(REPO_ROOT, 'packages/cli/bin/nself.js'))} realtime channel list | head -1 >/dev/null; echo "\${PIPESTATUS:-}" >/dev/null`],
      {
        env: { ...process.env, DATABASE_URL: db.url },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
  assert.equal(outcome.stderr, '', 'nothing on stderr');
  assert.equal(outcome.code, 0);
});

test('start on a port that is taken exits 1 at once with one line naming --port and REALTIME_PORT', async () => {
  const port = await freePort();
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
  try {
    const started = Date.now();
    const result = await realtime(['start', '--port', String(port)], { databaseUrl: db.url, timeoutMs: 30_000 });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `error: port ${port} on 127.0.0.1 is already in use (is another server running?); choose another with --port <port> or REALTIME_PORT\n`);
    assert.ok(Date.now() - started < 20_000, 'it exits, holding nothing open');
  } finally {
    holder.close();
  }
});

test("a command run in a project's subdirectory uses the project's embedded database; outside any project it says where it makes one", async () => {
  const project = await mkdtemp(path.join(tmpdir(), 'nself-project-'));
  await chmod(project, 0o755); // the embedded PostgreSQL, run by root as the postgres user, must reach its data
  const below = path.join(project, 'apps', 'web');
  await mkdir(below, { recursive: true });
  try {
    const first = await realtime(['init'], { databaseUrl: '', cwd: project, env: { NSELF_DATA_DIR: '' }, timeoutMs: 120_000 });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(
      first.stderr,
      `note: no embedded database in ${project} or above it; creating one in ${path.join(project, '.nself')} (run nself from your project's directory, or set DATABASE_URL to your PostgreSQL)\n`,
    );
    const created = await realtime(['channel', 'create', 'made-below'], { databaseUrl: '', cwd: below, env: { NSELF_DATA_DIR: '' } });
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.stderr, '', 'no note: the project has a database');
    assert.equal(existsSync(path.join(below, '.nself')), false, 'no second database below');
    const listed = await realtime(['channel', 'list', '--json'], { databaseUrl: '', cwd: project, env: { NSELF_DATA_DIR: '' } });
    assert.deepEqual(
      (JSON.parse(listed.stdout) as Array<{ slug: string }>).map((channel) => channel.slug),
      ['made-below'],
    );
  } finally {
    await stopEmbeddedPostgres(path.join(project, '.nself')).catch(() => undefined);
    await rm(project, { recursive: true, force: true });
  }
});
