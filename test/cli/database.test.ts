// `nself realtime db url | psql | start | stop` and `status`'s connection URL; the embedded PostgreSQL runs only while something uses it,
// unless `db start` asked to keep it running.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { maskPassword, stopEmbeddedPostgres } from '@nself/db';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realtime } from '../helpers/cli.js';
import { freePort, startServerProcess } from '../helpers/server-process.js';
import { assertUserError } from './support.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase({ migrated: true });
});
after(async () => {
  await db.drop();
});

const EXTERNAL = 'postgres://app:s3cret@db.example.com:6543/app';

test('with DATABASE_URL set, db url masks its password unless asked, and db start and db stop say the database is external', async () => {
  const masked = await realtime(['db', 'url'], { databaseUrl: EXTERNAL });
  assert.equal(masked.code, 0, masked.stderr);
  assert.equal(masked.stdout, 'postgres://app:***@db.example.com:6543/app\n');
  const shown = await realtime(['db', 'url', '--show-password'], { databaseUrl: EXTERNAL });
  assert.equal(shown.stdout, `${EXTERNAL}\n`);
  for (const action of ['start', 'stop']) {
    assertUserError(
      await realtime(['db', action], { databaseUrl: EXTERNAL }),
      new RegExp(`^error: DATABASE_URL is set, so the database is external \\(db\\.example\\.com:6543, database "app"\\): nself does not ${action} it; unset DATABASE_URL`),
    );
  }
});

test('db psql runs psql on the database, passing its arguments on; without psql on PATH it says what to install', async () => {
  const result = await realtime(['db', 'psql', '-At', '-c', 'select current_database()'], { databaseUrl: db.url });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `${db.name}\n`);
  const failing = await realtime(['db', 'psql', '-c', 'select nonsense'], { databaseUrl: db.url });
  assert.notEqual(failing.code, 0, "psql's failure is the command's");
  assertUserError(
    await realtime(['db', 'psql'], { databaseUrl: db.url, env: { PATH: '/nonexistent' } }),
    /^error: psql is not installed or not on PATH; install the PostgreSQL client/,
  );
});

test("status prints how to connect, DATABASE_URL's password masked", async () => {
  const result = await realtime(['status'], { databaseUrl: db.url });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`^  url +${escapeRegExp(maskPassword(db.url))} \\(DATABASE_URL;`, 'm'));
});

test('the embedded PostgreSQL: a command stops the one it started, db start keeps it running, db url and status print the URL, db stop stops it, a server stops the one it started', async () => {
  const project = await mkdtemp(path.join(tmpdir(), 'nself-db-'));
  await chmod(project, 0o755); // the embedded PostgreSQL, run by root as the postgres user, must reach its data
  const stateDir = path.join(project, '.nself');
  const inProject = { databaseUrl: '', cwd: project, env: { NSELF_DATA_DIR: '' }, timeoutMs: 120_000 };
  try {
    assert.equal((await realtime(['init'], inProject)).code, 0);
    const instance = JSON.parse(await readFile(path.join(stateDir, 'postgres', 'instance.json'), 'utf8')) as { port: number; password: string };
    const url = `postgres://postgres:${encodeURIComponent(instance.password)}@127.0.0.1:${instance.port}/postgres`;
    assert.equal(await accepts(url), false, 'init stopped the PostgreSQL it started');

    const started = await realtime(['db', 'start'], inProject);
    assert.equal(started.code, 0, started.stderr);
    assert.equal(
      started.stdout,
      `The embedded PostgreSQL runs on 127.0.0.1:${instance.port} (data in ${path.join(stateDir, 'postgres', 'data')}) until \`nself realtime db stop\`.\n${url}\n`,
    );
    assert.equal((await realtime(['channel', 'create', 'kept'], inProject)).code, 0);
    assert.equal(await accepts(url), true, 'kept running after another command');
    assert.equal((await realtime(['db', 'url'], inProject)).stdout, `${url}\n`);
    assert.match((await realtime(['status'], inProject)).stdout, new RegExp(`^  url +${escapeRegExp(url)} \\(embedded;`, 'm'));

    const stopped = await realtime(['db', 'stop'], inProject);
    assert.equal(stopped.stdout, `Stopped the embedded PostgreSQL in ${stateDir}.\n`);
    assert.equal(await accepts(url), false);
    assert.equal((await realtime(['db', 'stop'], inProject)).stdout, `The embedded PostgreSQL in ${stateDir} is not running; nothing to stop.\n`);

    const server = await startServerProcess('', await freePort(), { NSELF_DATA_DIR: stateDir });
    const listed = await realtime(['channel', 'list', '--json'], inProject);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as Array<{ slug: string }>).map((channel) => channel.slug),
      ['kept'],
    );
    assert.equal(await accepts(url), true, 'a command run beside the server leaves it its database');
    assert.equal(await server.stop('SIGINT'), 0);
    assert.equal(await accepts(url), false, 'the server stopped the PostgreSQL it started');
  } finally {
    await stopEmbeddedPostgres(stateDir).catch(() => undefined);
    await rm(project, { recursive: true, force: true });
  }
});

async function accepts(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
