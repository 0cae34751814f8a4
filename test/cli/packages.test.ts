// The packages outside the clone: packed with `npm pack`, installed from the tarballs into a fresh project (third-party dependencies from
// npm's cache or the registry), where `npx nself` runs, a server starts, and the client README's example talks to it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { freePort } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const PACKAGES = ['protocol', 'db', 'graphql', 'server', 'cli', 'client', 'react'] as const;

let db: TestDatabase;
let scratch: string;
let project: string;
before(async () => {
  db = await createTestDatabase({ migrated: true });
  scratch = await mkdtemp(path.join(tmpdir(), 'nself-packages-'));
  await chmod(scratch, 0o755);
  project = path.join(scratch, 'app');
});
after(async () => {
  await db.drop();
  await rm(scratch, { recursive: true, force: true });
});

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end and collects its output. */
function run(command: string, args: readonly string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, DATABASE_URL: db.url, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function ok(command: string, args: readonly string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  const result = await run(command, args, cwd, env);
  assert.equal(result.code, 0, `${command} ${args.join(' ')}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

test('every package is ready to publish: public, versioned, with its licence, repository, types and files', async () => {
  const root = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { repository: { url: string } };
  for (const name of PACKAGES) {
    const manifest = JSON.parse(await readFile(path.join(REPO_ROOT, 'packages', name, 'package.json'), 'utf8')) as Record<string, unknown> & {
      exports: Record<string, Record<string, string>>;
      repository: { url: string; directory: string };
      files: string[];
    };
    assert.equal(manifest['private'], undefined, `@nself/${name} is not private`);
    assert.match(String(manifest['version']), /^\d+\.\d+\.\d+$/);
    assert.equal(manifest['license'], 'MIT');
    assert.ok(String(manifest['description']).length > 20, `@nself/${name} says what it is`);
    assert.deepEqual(manifest.repository, { type: 'git', url: root.repository.url, directory: `packages/${name}` });
    for (const [entry, conditions] of Object.entries(manifest.exports)) {
      assert.match(conditions['types'] ?? '', /^\.\/dist\/.*\.d\.ts$/, `${name} ${entry} has types in dist`);
      assert.match(conditions['default'] ?? '', /^\.\/dist\/.*\.js$/, `${name} ${entry} defaults to dist`);
      assert.deepEqual(Object.keys(conditions).at(-1), 'default', 'default comes last');
    }
    assert.ok(manifest.files.includes('dist'));
  }
});

test('the packed packages install into a fresh project, where npx nself runs, the server starts and the client README example works', { timeout: 300_000 }, async () => {
  // Packed as `npm publish` would (the suite's runner has built every dist/).
  const tarballs = path.join(scratch, 'tarballs');
  await mkdir(tarballs);
  await ok('npm', ['pack', '--ignore-scripts', '--pack-destination', tarballs, ...PACKAGES.flatMap((name) => ['-w', `packages/${name}`])], REPO_ROOT);
  const files = (await readdir(tarballs)).sort();
  assert.deepEqual(files, PACKAGES.map((name) => `nself-${name}-0.1.0.tgz`).sort());
  const listing = await ok('tar', ['-tzf', path.join(tarballs, 'nself-db-0.1.0.tgz')], scratch);
  for (const expected of ['package/LICENSE', 'package/README.md', 'package/dist/index.js', 'package/dist/index.d.ts', 'package/sql/']) {
    assert.ok(
      listing.split('\n').some((line) => line.startsWith(expected)),
      `the db tarball holds ${expected}`,
    );
  }

  await mkdir(project);
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'fresh-app', private: true, type: 'module' }));
  await ok('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...files.map((file) => path.join(tarballs, file)), 'ws'], project);

  assert.equal(await ok('npx', ['nself', 'realtime', '--version'], project), '0.1.0\n');

  const port = await freePort();
  const server = startInProject(['realtime', 'start', '--port', String(port)]);
  try {
    await waitFor(
      () =>
        fetch(`http://127.0.0.1:${port}/healthcheck`).then(
          (response) => response.ok,
          () => false,
        ),
      () => `the installed server on port ${port}; it printed:\n${server.output()}`,
      30_000,
    );

    // The client README's quick start, as an app would write it after `npm install @nself/client ws`.
    await writeFile(
      path.join(project, 'client.mjs'),
      [
        "import { RealtimeClient } from '@nself/client';",
        `const client = new RealtimeClient({ url: 'ws://localhost:${port}', apiKey: 'your-api-key' });`,
        "const channel = client.channel('general');",
        "channel.on('message', (payload) => { console.log('received', JSON.stringify(payload)); client.disconnect(); });",
        'channel.subscribe((status) => {',
        "  if (status !== 'SUBSCRIBED') return;",
        "  console.log('subscribed');",
        "  channel.send({ type: 'broadcast', event: 'hello', payload: { text: 'Hello World!' } }).then((reply) => console.log('sent', JSON.stringify(reply)));",
        '});',
        '',
      ].join('\n'),
    );
    const app = startInProject(['client.mjs'], 'node');
    await waitFor(
      () => /^sent \{"offset":1\}$/m.test(app.output()),
      () => `the client's broadcast acknowledged; it printed:\n${app.output()}`,
      20_000,
    );
    await ok('npx', ['nself', 'realtime', 'broadcast', 'general', 'message', '{"text": "from the CLI"}'], project);
    await waitFor(
      () => app.child.exitCode === 0,
      () => `the client receiving the CLI's broadcast and ending; it printed:\n${app.output()}`,
      20_000,
    );
    assert.match(app.output(), /^received \{"text":"from the CLI"\}$/m);
    const stored = JSON.parse(await ok('npx', ['nself', 'realtime', 'messages', 'general', '10', '--json'], project)) as Array<{ event_type: string; payload: unknown }>;
    assert.deepEqual(
      stored.map((message) => [message.event_type, message.payload]),
      [
        ['hello', { text: 'Hello World!' }],
        ['message', { text: 'from the CLI' }],
      ],
    );

    // The hooks load with the client they were installed with, and the types resolve as a TypeScript app reads them.
    assert.equal(await ok('node', ['--input-type=module', '-e', "const react = await import('@nself/react'); console.log(typeof react.useChannel)"], project), 'function\n');
    await writeFile(
      path.join(project, 'app.ts'),
      "import { RealtimeClient } from '@nself/client';\nimport { useChannel } from '@nself/react';\nexport const client: RealtimeClient = new RealtimeClient({ url: 'ws://localhost:3100', apiKey: 'k' });\nexport { useChannel };\n",
    );
    await ok(
      process.execPath,
      [path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', 'app.ts'],
      project,
    );
  } finally {
    await server.stop();
  }
});

/** Starts the installed `nself` (or `node` with `args`) in the project, collecting its output. */
function startInProject(
  args: readonly string[],
  command = path.join(project, 'node_modules', '.bin', 'nself'),
): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawn(command, args, {
    cwd: project,
    env: { ...process.env, DATABASE_URL: db.url, REALTIME_JWT_SECRET: '', REALTIME_LOG_FILE: path.join(scratch, 'server.log') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await closed;
    },
  };
}
