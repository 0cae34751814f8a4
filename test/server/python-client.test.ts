// Conformance: the Python `realtime` client (PyPI) receives broadcast, presence and postgres_changes from the server.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { useRoleServer } from './postgres-changes-support.js';
import { token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

/** The client version hosted Supabase's Python SDK 2.31 ships with. */
const PYTHON_REALTIME = 'realtime==2.31.0';
const here = path.dirname(fileURLToPath(import.meta.url));
const venv = path.resolve(here, '..', '..', '.nself', 'python-realtime');
const python = path.join(venv, 'bin', 'python');

const env = useRoleServer(
  'rt_python',
  (role) => `
  CREATE TABLE notes (id serial PRIMARY KEY, body text);
  GRANT USAGE ON SCHEMA public TO ${role};
  GRANT SELECT ON notes TO ${role};
`,
);

/** A virtual environment with the client installed (made once, kept in .nself/); why not, when it cannot be made. */
function pythonClient(): { ready: true } | { ready: false; why: string } {
  if (existsSync(python) && spawnSync(python, ['-c', 'import realtime']).status === 0) return { ready: true };
  const made = spawnSync('python3', ['-m', 'venv', venv], { encoding: 'utf8' });
  if (made.error || made.status !== 0) return { ready: false, why: `python3 -m venv failed: ${made.error?.message ?? made.stderr}` };
  const installed = spawnSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', PYTHON_REALTIME], { encoding: 'utf8', timeout: 180_000 });
  if (installed.status !== 0) return { ready: false, why: `pip install ${PYTHON_REALTIME} failed (no network to PyPI?): ${installed.stderr.slice(-500)}` };
  return { ready: true };
}

test(`the Python client (${PYTHON_REALTIME}) receives its broadcast, its presence and a table change`, async (t) => {
  const client = pythonClient();
  if (!client.ready) return t.skip(client.why);
  const lines: Array<{ kind: string; value: unknown }> = [];
  const child = spawn(python, [path.join(here, 'python', 'realtime_check.py')], {
    env: {
      ...process.env,
      REALTIME_URL: `ws://127.0.0.1:${env.server.port}/realtime/v1`,
      REALTIME_TOKEN: await token('python-user', { role: env.role }),
      REALTIME_TOPIC: 'py-room',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line) as { kind: string; value: unknown }));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    await waitFor(
      () => lines.some((line) => line.kind === 'system' && JSON.stringify(line.value).includes('Subscribed to PostgreSQL')),
      "the Python client's postgres_changes subscription",
      20_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message} (lines: ${JSON.stringify(lines)}; stderr: ${stderr})`);
    });
    await env.db.pool.query("INSERT INTO notes (body) VALUES ('from postgres')");
    assert.equal(await exited, 0, `the Python client exits after receiving everything (lines: ${JSON.stringify(lines)}; stderr: ${stderr})`);
  } finally {
    child.kill();
  }
  const of = (kind: string) => lines.find((line) => line.kind === kind)?.value as Record<string, unknown> | undefined;
  assert.deepEqual(of('broadcast')?.['payload'], { from: 'python' });
  const presence = of('presence') as Record<string, Array<Record<string, unknown>>>;
  assert.deepEqual(Object.keys(presence), ['py-client']);
  assert.equal(presence['py-client']?.[0]?.['lang'], 'python');
  const change = of('change') as { data: { record: Record<string, unknown>; type: string; table: string } };
  assert.equal(change.data.type, 'INSERT');
  assert.equal(change.data.table, 'notes');
  assert.deepEqual(change.data.record, { id: 1, body: 'from postgres' });
});
