// Log lines as people read them: readable on a terminal, JSON when piped or asked for, from the server and from `nself realtime logs`;
// refused connections and joins logged with their reason.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { readableLogLines } from '@nself/server/readable-logs';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realtime, REPO_ROOT } from '../helpers/cli.js';
import { freePort, startServerProcess } from '../helpers/server-process.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

let db: TestDatabase;
let scratch: string;
before(async () => {
  db = await createTestDatabase({ migrated: true });
  scratch = await mkdtemp(path.join(tmpdir(), 'nself-log-format-'));
});
after(async () => {
  await db.drop();
  await rm(scratch, { recursive: true, force: true });
});

/** `[2026-01-30 10:30:00.123 +0100] INFO: [server.listening] realtime server listening`: local time with its offset, level, code, message. */
const READABLE_LISTENING =
  /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d{4}\] INFO: \[server\.listening\] realtime server listening with 1 process \(REALTIME_WORKERS=1, the default without NODE_ENV=production\)$/m;

interface LogEntry {
  code?: string;
  msg?: string;
  reason?: string;
  status?: number;
  topic?: string;
}

async function entries(file: string): Promise<LogEntry[]> {
  return (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as LogEntry);
}

test('piped, the server logs JSON lines; a refused connection and a refused join are logged with their reason', async () => {
  const logFile = path.join(scratch, 'json.log');
  const server = await startServerProcess(db.url, await freePort(), { REALTIME_JWT_SECRET: JWT_SECRET, REALTIME_LOG_FILE: logFile, REALTIME_LOG_FORMAT: '' });
  try {
    const refused = new WebSocket(`ws://127.0.0.1:${server.port}/realtime/v1/websocket?vsn=1.0.0&apikey=not-a-token`);
    refused.on('error', () => undefined); // ws reports the refusal as an error too
    const status = await new Promise<number | undefined>((resolve) => refused.once('unexpected-response', (_request, response) => resolve(response.statusCode)));
    refused.terminate();
    assert.equal(status, 401);

    const socket = new WebSocket(`ws://127.0.0.1:${server.port}/realtime/v1/websocket?vsn=1.0.0&apikey=${await token('user-1')}`);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const expired = await token('user-1', { expiresInSeconds: -60 });
    socket.send(JSON.stringify({ topic: 'realtime:room', event: 'phx_join', payload: { config: {}, access_token: expired }, ref: '1' }));
    const reply = await new Promise<{ payload: { status: string; response: { reason: string } } }>((resolve) =>
      socket.once('message', (data) => resolve(JSON.parse(String(data)))),
    );
    socket.close();
    assert.equal(reply.payload.status, 'error');

    await waitFor(async () => (await entries(logFile)).some((entry) => entry.code === 'join.refused'), 'the join refusal in the log');
    const logged = await entries(logFile);
    const connection = logged.find((entry) => entry.code === 'connection.refused');
    assert.ok(connection, 'the refused connection is logged');
    assert.equal(connection.status, 401);
    assert.ok(connection.reason && connection.reason.length > 0, 'with the reason the client was told');
    const join = logged.find((entry) => entry.code === 'join.refused');
    assert.equal(join?.topic, 'realtime:room');
    assert.equal(join?.reason, reply.payload.response.reason);
    assert.match(join?.msg ?? '', /^join refused: /);

    const stdout = server.output().trim().split('\n');
    assert.ok(stdout.length > 2);
    for (const line of stdout) assert.doesNotThrow(() => JSON.parse(line), `a JSON line on stdout: ${line}`);
  } finally {
    await server.stop();
  }
});

test('REALTIME_LOG_FORMAT=pretty prints readable lines on stdout, with the time zone, while the log file stays JSON', async () => {
  const logFile = path.join(scratch, 'pretty.log');
  const server = await startServerProcess(db.url, await freePort(), { REALTIME_LOG_FILE: logFile, REALTIME_LOG_FORMAT: 'pretty' });
  await server.stop();
  assert.match(server.output(), READABLE_LISTENING);
  assert.doesNotMatch(server.output(), /^\{"level"/m);
  assert.ok((await entries(logFile)).some((entry) => entry.code === 'server.listening'));
});

test('nself realtime logs prints readable lines on a terminal, JSON lines when piped or with REALTIME_LOG_FORMAT=json', async () => {
  const logFile = path.join(scratch, 'pretty.log');
  const piped = await realtime(['logs'], { databaseUrl: db.url, env: { REALTIME_LOG_FILE: logFile, REALTIME_LOG_FORMAT: '' } });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stdout, await readFile(logFile, 'utf8'));

  const onTerminal = await inTerminal(['logs'], { REALTIME_LOG_FILE: logFile, REALTIME_LOG_FORMAT: '', NO_COLOR: '1' });
  assert.match(onTerminal, READABLE_LISTENING);
  assert.doesNotMatch(onTerminal, /"level"/);
  const forcedJson = await inTerminal(['logs'], { REALTIME_LOG_FILE: logFile, REALTIME_LOG_FORMAT: 'json' });
  assert.match(forcedJson, /^\{"level":30,/m);
});

/** Runs `nself realtime <args>` with a terminal as its stdout (util-linux `script`), and returns what it printed, line ends as \n. */
function inTerminal(args: readonly string[], env: Record<string, string>): Promise<string> {
  const command = [process.execPath, path.join(REPO_ROOT, 'packages/cli/bin/nself.js'), 'realtime', ...args].map((word) => `'${word}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...process.env, DATABASE_URL: db.url, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(output.replace(/\r\n/g, '\n')) : reject(new Error(`exit ${code}: ${output}`))));
  });
}

test('readable lines escape the control characters a client put in a log line, and keep the lines of an error stack', () => {
  const readable = readableLogLines({ colorize: false });
  const line = JSON.stringify({
    level: 30,
    time: Date.parse('2026-01-30T10:30:00Z'),
    code: 'join.refused',
    msg: 'join refused',
    topic: 'realtime:\u001b[2Jroom',
    err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at here' },
  });
  const text = readable(line);
  assert.doesNotMatch(text, /\u001b/, 'no raw escape reaches the terminal');
  assert.match(text, /topic: "realtime:\\u001b\[2Jroom"/);
  assert.match(text, /Error: boom\n\s+at here/);
  assert.equal(readable('not json\u001b'), 'not json\\u001b\n');
});
