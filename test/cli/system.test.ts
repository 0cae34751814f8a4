// `nself realtime status|logs|cleanup|stats` and the top-level help, against real PostgreSQL.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { latestVersion } from '@nself/db';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realtime, REPO_ROOT } from '../helpers/cli.js';
import { assertUserError, parseTable, snapshot } from './support.js';

let db: TestDatabase;
let scratch: string;
let closedPort: number;
const run = (...args: string[]) => realtime(args, { databaseUrl: db.url, env: { REALTIME_PORT: String(closedPort), REALTIME_HOST: '' } });

before(async () => {
  db = await createTestDatabase({ migrated: true });
  scratch = await mkdtemp(path.join(tmpdir(), 'nself-cli-test-'));
  const probe = await listen(createServer());
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});
after(async () => {
  await db.drop();
  await rm(scratch, { recursive: true, force: true });
});

function listen(server: Server): Promise<Server> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('status shows the database, the schema version, the server and row counts', async () => {
  await db.pool.query("INSERT INTO realtime.channels (slug, name) VALUES ('general', 'general'), ('other', 'other')");
  await db.pool.query("SELECT realtime.broadcast('general', 'hello', '{}')");
  const latest = await latestVersion();
  const result = await run('status');
  assert.equal(result.code, 0, result.stderr);
  const database = new URL(db.url).pathname.slice(1);
  assert.match(result.stdout, /^Realtime status\n/);
  assert.match(result.stdout, new RegExp(`\\n  database +127\\.0\\.0\\.1:\\d+, database "${database}": reachable\\n`));
  assert.match(result.stdout, new RegExp(`\\n  schema +version ${latest} \\(latest ${latest}\\), up to date\\n`));
  assert.match(result.stdout, new RegExp(`\\n  server +not running \\(http://127\\.0\\.0\\.1:${closedPort}/healthcheck\\)\\n`));
  assert.match(result.stdout, /\n {2}channels +2\n/);
  assert.match(result.stdout, /\n {2}messages +1\n/);
  const json = JSON.parse((await run('status', '--json')).stdout);
  assert.equal(json.database.reachable, true);
  assert.equal(json.schema.installed, latest);
  assert.equal(json.server.running, false);
  assert.equal(json.counts.channels, 2);
});

test('status says "running" when the server answers its health check', async () => {
  const server = await listen(
    createServer((request, response) => {
      response.writeHead(request.url === '/healthcheck' ? 200 : 404).end('ok');
    }),
  );
  try {
    const port = (server.address() as AddressInfo).port;
    const result = await realtime(['status'], { databaseUrl: db.url, env: { REALTIME_PORT: String(port), REALTIME_HOST: '127.0.0.1' } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`\\n  server +running \\(http://127\\.0\\.0\\.1:${port}/healthcheck\\)\\n`));
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('status works on a database without the schema and says "not installed"', async () => {
  const empty = await createTestDatabase();
  try {
    const result = await realtime(['status'], { databaseUrl: empty.url, env: { REALTIME_PORT: String(closedPort), REALTIME_HOST: '' } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\n {2}schema +not installed \(latest version \d+\); run `nself realtime init`\n/);
    assert.doesNotMatch(result.stdout, /channels/);
  } finally {
    await empty.drop();
  }
});

test('status on an unreachable database says so, names it without the password, and exits 1', async () => {
  const result = await realtime(['status'], { databaseUrl: 'postgres://someone:hunter2@127.0.0.1:1/appdb', env: { REALTIME_PORT: String(closedPort), REALTIME_HOST: '' } });
  assert.equal(result.code, 1);
  assert.match(result.stdout, /\n {2}database +127\.0\.0\.1:1, database "appdb": unreachable \(cannot connect to PostgreSQL/);
  assert.match(result.stdout, /\n {2}server +not running/);
  assert.doesNotMatch(result.stdout + result.stderr, /hunter2/);
});

test('logs says where the log should be and how to start the server when there is none', async () => {
  const result = await realtime(['logs'], { databaseUrl: db.url, env: { NSELF_DATA_DIR: scratch, REALTIME_LOG_FILE: '' } });
  assertUserError(
    result,
    new RegExp(`no server log at ${path.join(scratch, 'logs', 'realtime.log').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}; start the server with \`nself realtime start\``),
  );
});

test('logs prints the last 100 lines, or --lines N', async () => {
  const file = path.join(scratch, 'logs', 'realtime.log');
  await rm(path.dirname(file), { recursive: true, force: true });
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, Array.from({ length: 150 }, (_, i) => `line ${i + 1} ✓`).join('\n') + '\n');
  const all = await realtime(['logs'], { databaseUrl: db.url, env: { NSELF_DATA_DIR: scratch, REALTIME_LOG_FILE: '' } });
  assert.equal(all.code, 0, all.stderr);
  const lines = all.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 100);
  assert.equal(lines[0], 'line 51 ✓');
  assert.equal(lines.at(-1), 'line 150 ✓');
  const three = await realtime(['logs', '--lines', '3'], { databaseUrl: db.url, env: { REALTIME_LOG_FILE: file } });
  assert.equal(three.stdout, 'line 148 ✓\nline 149 ✓\nline 150 ✓\n');
  assertUserError(await realtime(['logs', '--lines', '-2'], { databaseUrl: db.url, env: { REALTIME_LOG_FILE: file } }), /--lines must be a whole number of at least 0, got "-2"/);
});

test('logs --follow prints new lines as they are written, until Ctrl+C', async () => {
  const file = path.join(scratch, 'follow.log');
  await writeFile(file, 'first\n');
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'packages/cli/bin/nself.js'), 'realtime', 'logs', '--follow'], {
    env: { ...process.env, REALTIME_LOG_FILE: file },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const waitFor = async (text: string) => {
    const deadline = Date.now() + 10_000;
    while (!output.includes(text)) {
      assert.ok(Date.now() < deadline, `"${text}" did not appear; got: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  try {
    await waitFor('first\n');
    await appendFile(file, 'second\n');
    await waitFor('second\n');
    await appendFile(file, 'third\n');
    await waitFor('third\n');
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.equal(output, 'first\nsecond\nthird\n');
  } finally {
    child.kill('SIGKILL');
  }
});

test('cleanup deletes old messages, cleans stale connections and presence, and says what it did', async () => {
  await db.pool.query(`UPDATE realtime.messages SET sent_at = now() - interval '30 hours'`);
  await db.pool.query("SELECT realtime.broadcast('general', 'recent', '{}')");
  await db.pool.query(`INSERT INTO realtime.connections (connection_id, status, last_seen_at, disconnected_at) VALUES
    ('live', 'connected', now(), NULL),
    ('stale', 'connected', now() - interval '10 minutes', NULL),
    ('long-gone', 'disconnected', now() - interval '2 days', now() - interval '25 hours')`);
  await db.pool.query(`INSERT INTO realtime.presence (user_id, status, last_seen_at) VALUES
    ('fresh', 'online', now()), ('idle', 'away', now() - interval '10 minutes')`);
  const result = await run('cleanup');
  assert.equal(result.code, 0, result.stderr);
  assert.equal(
    result.stdout,
    [
      'Deleted 1 message older than 24 hours.',
      'Deleted 0 table changes older than 24 hours.',
      'Cleaned up 2 stale connections (marked disconnected after 300 seconds unseen, or removed after 24 hours disconnected).',
      'Set 1 stale presence row offline (unseen for 300 seconds).',
      '',
    ].join('\n'),
  );
  const messages = await db.pool.query('SELECT event_type FROM realtime.messages');
  assert.deepEqual(messages.rows, [{ event_type: 'recent' }]);
  const connections = await db.pool.query('SELECT connection_id, status FROM realtime.connections ORDER BY 1');
  assert.deepEqual(connections.rows, [
    { connection_id: 'live', status: 'connected' },
    { connection_id: 'stale', status: 'disconnected' },
  ]);
  const presence = await db.pool.query('SELECT user_id, status FROM realtime.presence ORDER BY 1');
  assert.deepEqual(presence.rows, [
    { user_id: 'fresh', status: 'online' },
    { user_id: 'idle', status: 'offline' },
  ]);
});

test('cleanup and presence cleanup count as stale what the server does: unseen for REALTIME_STALE_AFTER_SECONDS', async () => {
  await db.pool.query(`INSERT INTO realtime.connections (connection_id, status, last_seen_at) VALUES ('quiet', 'connected', now() - interval '10 minutes')`);
  await db.pool.query(`INSERT INTO realtime.presence (user_id, status, last_seen_at) VALUES ('quiet', 'online', now() - interval '10 minutes')`);
  const patient = { databaseUrl: db.url, env: { REALTIME_PORT: String(closedPort), REALTIME_STALE_AFTER_SECONDS: '900' } };
  const result = await realtime(['cleanup'], patient);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /\(marked disconnected after 900 seconds unseen, .*\n.*\(unseen for 900 seconds\)\.\n$/);
  const presence = await realtime(['presence', 'cleanup'], patient);
  assert.equal(presence.stdout, 'Set 0 stale presence rows offline (unseen for 900 seconds).\n');
  const rows = await db.pool.query(`SELECT (SELECT status FROM realtime.connections WHERE connection_id = 'quiet') AS connection,
    (SELECT status FROM realtime.presence WHERE user_id = 'quiet') AS presence`);
  assert.deepEqual(rows.rows, [{ connection: 'connected', presence: 'online' }]);
  await db.pool.query("DELETE FROM realtime.connections WHERE connection_id = 'quiet'");
  await db.pool.query("DELETE FROM realtime.presence WHERE user_id = 'quiet'");
  assertUserError(
    await realtime(['cleanup'], { ...patient, env: { REALTIME_STALE_AFTER_SECONDS: 'soon' } }),
    /^error: REALTIME_STALE_AFTER_SECONDS "soon" is not valid; expected a whole number from 1 to 86400$/,
  );
});

test('cleanup refuses negative or non-numeric hours and changes nothing', async () => {
  const before = await snapshot(db.pool);
  assertUserError(await run('cleanup', '-1'), /hours must be a number of at least 0, got "-1"/);
  assertUserError(await run('cleanup', 'week'), /hours must be a number of at least 0, got "week"/);
  assertUserError(await run('cleanup', '1', '2'), /too many arguments/);
  assert.equal(await snapshot(db.pool), before);
});

test('stats prints each section as a table, or all of them as JSON', async () => {
  const result = await run('stats');
  assert.equal(result.code, 0, result.stderr);
  for (const title of ['Channels by type', 'Stored messages', 'Busiest channels (last 24 hours)', 'Presence', 'Connections']) {
    assert.match(result.stdout, new RegExp(`(^|\\n)${title.replace(/[()]/g, '\\$&')}\\n`), title);
  }
  const presenceSection = result.stdout.split('\nPresence\n')[1]?.split('\n\n')[0] ?? '';
  assert.deepEqual(parseTable(`${presenceSection}\n`).rows, [{ online: '1', away: '0', offline: '1', total_users: '2', total_channels: '0' }]);
  const json = JSON.parse((await run('stats', '--json')).stdout);
  assert.deepEqual(
    json.channels.find((row: { type: string }) => row.type === 'public'),
    { type: 'public', channels: 2, members: 0, messages_sent: 2 },
  );
  assert.equal(json.messages[0].total, 1);
  assert.deepEqual(
    json.busiest_channels.map((row: { channel: string }) => row.channel),
    ['general'],
  );
  assert.deepEqual(json.connections, [{ connected: 1, disconnected: 1, users: 0, servers: 0 }]);
  assert.deepEqual(JSON.parse((await run('stats', 'json')).stdout), json);
});

test('realtime --help lists every command', async () => {
  const result = await run('--help');
  assert.equal(result.code, 0);
  for (const name of ['init', 'status', 'logs', 'cleanup', 'stats', 'channel', 'broadcast', 'messages', 'replay', 'events', 'presence', 'connections']) {
    assert.match(result.stdout, new RegExp(`\\n  ${name}\\b`), name);
  }
});
