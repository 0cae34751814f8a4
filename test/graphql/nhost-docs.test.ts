// docs/nhost.md's snippet run as written (URL and token filled in): an Nhost-style graphql-ws client prints the rows, then each change.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { hasuraToken, useGraphQLServer } from './support.js';

const env = useGraphQLServer(
  (role) => `
    CREATE TABLE todos (id serial PRIMARY KEY, user_id text NOT NULL, title text NOT NULL, done boolean NOT NULL DEFAULT false);
    GRANT USAGE ON SCHEMA public TO ${role};
    GRANT SELECT ON todos TO ${role};
    ALTER TABLE todos ENABLE ROW LEVEL SECURITY;
    CREATE POLICY todos_of_their_user ON todos FOR SELECT TO ${role}
      USING (user_id = current_setting('hasura.user', true)::json ->> 'x-hasura-user-id');
    INSERT INTO todos (user_id, title) VALUES ('u1', 'read the docs'), ('u2', 'not yours');
  `,
);

test("docs/nhost.md: the Nhost app's snippet prints the signed-in user's todos, then a new list on each change", async () => {
  const doc = await readFile(path.join(REPO_ROOT, 'docs', 'nhost.md'), 'utf8');
  const snippet = doc.slice(doc.indexOf('## Use from an Nhost app')).match(/```js\n([\s\S]*?)```/)?.[1];
  assert.ok(snippet?.includes("nhost.graphql.url.replace(/^http/, 'ws')"), 'the page shows the Nhost pattern');
  const preamble = [
    "import WebSocket from 'ws';",
    'globalThis.WebSocket ??= WebSocket;',
    `const nhost = { graphql: { url: ${JSON.stringify(env.graphqlUrl)} } };`,
    `const session = { accessToken: ${JSON.stringify(await hasuraToken('u1', env.role))} };`,
  ].join('\n');
  const file = path.join(REPO_ROOT, 'test', 'graphql', `.nhost-snippet-${process.pid}.mjs`);
  await writeFile(file, `${preamble}\n${snippet}`);
  const app = spawn(process.execPath, [file], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  app.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  app.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    await waitFor(
      () => output.includes('todos [{"id":1,"title":"read the docs","done":false}]'),
      () => `the first list (output: ${output})`,
      15_000,
    );
    await env.db.pool.query(`UPDATE todos SET done = true WHERE id = 1`);
    await waitFor(
      () => output.includes('todos [{"id":1,"title":"read the docs","done":true}]'),
      () => `the update (output: ${output})`,
    );
    assert.equal(output.trim().split('\n').length, 2, `one line per result: ${output}`);
  } finally {
    app.kill();
    await rm(file, { force: true });
  }
});
