// docs/errors.md against the code, both ways: every error text, refusal and log code is documented, and nothing documented is gone.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { ConnectError, JoinError, PushError, RestError, SystemMessage } from '@nself/protocol';
import { LogCode } from '@nself/server';
import { REFUSALS } from '../../packages/server/src/refusal.js';
import { REPO_ROOT } from '../helpers/cli.js';

const CATALOGUE = { JoinError, SystemMessage, PushError, ConnectError, RestError } as const;

/** The first-column names of the tables in the section of docs/errors.md under `heading`. */
async function documented(heading: string): Promise<Map<string, string>> {
  const text = await readFile(path.join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');
  const start = text.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `docs/errors.md has a "## ${heading}" section`);
  const end = text.indexOf('\n## ', start + 1);
  const rows = text
    .slice(start, end < 0 ? undefined : end)
    .split('\n')
    .map((line) => line.match(/^\| `([^`]+)` \|(.*)$/));
  return new Map(rows.filter((match) => match !== null).map((match) => [match[1] ?? '', match[2] ?? '']));
}

/** The TypeScript sources of the packages that use the catalogue, as one text per file. */
async function sources(packages: readonly string[]): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const pkg of packages) {
    const dir = path.join(REPO_ROOT, 'packages', pkg, 'src');
    for (const file of await readdir(dir, { recursive: true })) {
      if (/\.tsx?$/.test(file)) files.set(`packages/${pkg}/src/${file}`, await readFile(path.join(dir, file), 'utf8'));
    }
  }
  return files;
}

test('every entry of the error catalogue is documented with its text, used by the code, and docs/errors.md lists no other', async () => {
  const docs = await documented('Error texts clients receive');
  const code = [...(await sources(['server', 'client', 'cli'])).values()].join('\n');
  const entries = Object.entries(CATALOGUE).flatMap(([group, texts]) => Object.entries(texts).map(([key, value]) => ({ name: `${group}.${key}`, value })));
  for (const { name, value } of entries) {
    const row = docs.get(name);
    assert.ok(row !== undefined, `${name} is not in docs/errors.md`);
    const text = typeof value === 'string' ? value : typeof value === 'object' && 'error' in value ? value.error : undefined;
    if (text !== undefined) assert.ok(row.includes(text), `docs/errors.md gives ${name} another text than "${text}"`);
    assert.ok(code.includes(name), `${name} is in the catalogue but no package uses it; remove it`);
  }
  const names = new Set(entries.map(({ name }) => name));
  assert.deepEqual(
    [...docs.keys()].filter((name) => !names.has(name)),
    [],
    'docs/errors.md lists entries the catalogue does not have',
  );
});

test('every refusal code is documented and raised somewhere, and docs/errors.md lists no other', async () => {
  const docs = await documented('Refusals');
  const codes = Object.keys(REFUSALS);
  assert.deepEqual(
    codes.filter((code) => !docs.has(code)),
    [],
    'refusal codes missing from docs/errors.md',
  );
  assert.deepEqual(
    [...docs.keys()].filter((code) => !codes.includes(code)),
    [],
    'docs/errors.md lists refusal codes the server does not have',
  );
  const server = [...(await sources(['server'])).entries()]
    .filter(([file]) => !file.endsWith('refusal.ts'))
    .map(([, text]) => text)
    .join('\n');
  assert.deepEqual(
    codes.filter((code) => code !== 'InvalidToken' && !server.includes(`'${code}'`)),
    [],
    'refusal codes no module raises',
  );
});

test('every log code is documented with its level and used, docs/errors.md lists no other, and every log line at info or above has a code', async () => {
  const docs = await documented('Log codes');
  const values: string[] = Object.values(LogCode);
  assert.deepEqual(
    values.filter((code) => !docs.has(code)),
    [],
    'log codes missing from docs/errors.md',
  );
  assert.deepEqual(
    [...docs.keys()].filter((code) => !values.includes(code)),
    [],
    'docs/errors.md lists log codes the server does not have',
  );
  const files = await sources(['server', 'cli', 'db']);
  const all = [...files.values()].join('\n');
  assert.deepEqual(
    Object.keys(LogCode).filter((key) => !all.includes(`LogCode.${key}`)),
    [],
    'log codes no line uses',
  );
  for (const [, text] of files) {
    for (const match of text.matchAll(/logger\.(info|warn|error|fatal)\(\s*\{\s*code: LogCode\.(\w+)/g)) {
      const value = LogCode[match[2] as keyof typeof LogCode];
      assert.match(docs.get(value) ?? '', new RegExp(`^ ${match[1]} \\|`), `docs/errors.md gives ${value} another level than ${match[1]}`);
    }
  }
  const uncoded = [...files.entries()].flatMap(([file, text]) =>
    [...text.matchAll(/logger\.(?:info|warn|error|fatal)\((?!\s*\{\s*code: )[^\n]*/g)].map((match) => `${file}: ${match[0]}`),
  );
  assert.deepEqual(uncoded, [], 'log lines at info or above without a code');
});
