// `listen` streams each change as it commits, in the seed's format or as JSON lines, and stops cleanly.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realtime } from '../helpers/cli.js';
import { startCli } from './listening-cli.js';

let db: TestDatabase;
const SEED_LINE = /^Asynchronous notification "realtime:table:public\.users" received from server process with PID (\d+)\.$/;

before(async () => {
  db = await createTestDatabase({ migrated: true });
  await db.pool.query('CREATE TABLE public.users (id serial PRIMARY KEY, email text, created_at timestamptz DEFAULT now())');
  const result = await realtime(['subscribe', 'public.users'], { databaseUrl: db.url });
  assert.equal(result.code, 0, result.stderr);
});
after(async () => {
  await db.drop();
});

test('the seed "Test manually" recipe: listen prints each INSERT while still running, in the seed format', async () => {
  const listener = startCli(['listen', 'public.users'], db.url);
  await listener.waitForOutput(/^Listening to public\.users after position \d+/, 'stderr');
  const writer = new pg.Client({ connectionString: db.url });
  await writer.connect();
  const { rows } = await writer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  await writer.query("INSERT INTO public.users (email) VALUES ('test@example.com')");
  await writer.end();
  await listener.waitForOutput(/Payload: .*\n/);
  assert.equal(listener.child.exitCode, null, 'the change was printed while listen kept running');
  const [notice, payloadLine] = listener.stdout().trimEnd().split('\n');
  assert.equal(SEED_LINE.exec(notice ?? '')?.[1], String(rows[0]?.pid));
  const payload = JSON.parse((payloadLine ?? '').replace(/^Payload: /, ''));
  assert.deepEqual(Object.keys(payload), ['timestamp', 'operation', 'schema', 'table', 'new']);
  assert.equal(payload.operation, 'INSERT');
  assert.equal(payload.schema, 'public');
  assert.equal(payload.table, 'users');
  assert.equal(payload.new.email, 'test@example.com');
  assert.ok(Math.abs(payload.timestamp - Date.now() / 1000) < 60, 'timestamp is unix seconds');
  listener.child.kill('SIGINT');
  assert.equal(await listener.exit, 0, 'Ctrl+C ends listen with status 0');
  assert.match(listener.stderr(), /Stopped at position \d+; continue with --from \d+/);
});

test('listen public.users 2 stops by itself after the time limit with status 0', async () => {
  const started = Date.now();
  const result = await realtime(['listen', 'public.users', '2'], { databaseUrl: db.url });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, '');
  assert.ok(Date.now() - started >= 2000);
});

test('--json prints one object per change with position, operation, new, old and column types; --from resumes', async () => {
  const listener = startCli(['listen', 'public.users', '--json'], db.url);
  await listener.waitForOutput(/^Listening to public\.users after position \d+/, 'stderr');
  await db.pool.query("UPDATE public.users SET email = 'changed@example.com' WHERE email = 'test@example.com'");
  await db.pool.query("DELETE FROM public.users WHERE email = 'changed@example.com'");
  await listener.waitForOutput(/"DELETE".*\n/);
  listener.child.kill('SIGTERM');
  assert.equal(await listener.exit, 0);
  const lines = listener
    .stdout()
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.deepEqual(
    lines.map((line) => line.operation),
    ['UPDATE', 'DELETE'],
  );
  assert.equal(lines[0].new.email, 'changed@example.com');
  assert.equal(lines[0].old.email, 'test@example.com');
  assert.equal(lines[1].new, null);
  assert.equal(lines[1].old.email, 'changed@example.com');
  assert.equal(lines[1].position, lines[0].position + 1);
  assert.deepEqual(lines[0].columns, [
    { name: 'id', type: 'integer' },
    { name: 'email', type: 'text' },
    { name: 'created_at', type: 'timestamp with time zone' },
  ]);
  // Changes committed while nobody listened are printed by a listener that resumes from its last position.
  await db.pool.query("INSERT INTO public.users (email) VALUES ('while-away-1'), ('while-away-2')");
  const resumed = await realtime(['listen', 'public.users', '1', '--json', '--from', String(lines[1].position)], { databaseUrl: db.url });
  assert.equal(resumed.code, 0, resumed.stderr);
  const missed = resumed.stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.deepEqual(
    missed.map((line) => [line.position, line.new.email]),
    [
      [lines[1].position + 1, 'while-away-1'],
      [lines[1].position + 2, 'while-away-2'],
    ],
  );
});

test('psql LISTEN receives the seed payload directly (PostgreSQL LISTEN recipe)', async () => {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const received: pg.Notification[] = [];
  client.on('notification', (message) => received.push(message));
  await client.query('LISTEN "realtime:table:public.users"');
  await db.pool.query("INSERT INTO public.users (email) VALUES ('new@example.com')");
  const deadline = Date.now() + 5000;
  while (received.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await client.end();
  assert.equal(received[0]?.channel, 'realtime:table:public.users');
  const payload = JSON.parse(received[0]?.payload ?? '{}');
  assert.deepEqual(Object.keys(payload), ['timestamp', 'operation', 'schema', 'table', 'new']);
  assert.equal(payload.new.email, 'new@example.com');
});

test('listen on a table that is not subscribed, or does not exist, says so in one line', async () => {
  await db.pool.query('CREATE TABLE public.quiet (id int)');
  const notSubscribed = await realtime(['listen', 'public.quiet', '1'], { databaseUrl: db.url });
  assert.equal(notSubscribed.code, 1);
  assert.equal(notSubscribed.stderr, 'error: public.quiet is not subscribed; run `nself realtime subscribe public.quiet` first\n');
  const missing = await realtime(['listen', 'public.user', '1'], { databaseUrl: db.url });
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'error: table public.user does not exist; did you mean public.users?\n');
  const badSeconds = await realtime(['listen', 'public.users', 'soon'], { databaseUrl: db.url });
  assert.equal(badSeconds.code, 1);
  assert.match(badSeconds.stderr, /^error: unexpected argument "soon"|^error: seconds must be a number/);
});
