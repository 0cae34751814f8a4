#!/usr/bin/env node
// Runs the test suite with node's test runner against DATABASE_URL, or an embedded PostgreSQL when unset.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ensureEmbeddedPostgres, describeDatabase } from '@nself/db';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const only = process.argv.slice(2);

function findTests(dir) {
  const found = [];
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist' || entry.startsWith('.')) continue;
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) found.push(...findTests(full));
    else if (entry.endsWith('.test.ts') || entry.endsWith('.test.tsx')) found.push(full);
  }
  return found;
}

const files = (only.length > 0 ? only.map((file) => path.resolve(file)) : [
  ...findTests(path.join(root, 'test')),
  ...readdirSync(path.join(root, 'packages')).flatMap((pkg) => {
    const dir = path.join(root, 'packages', pkg, 'test');
    try { return findTests(dir); } catch { return []; }
  }),
]).sort();

let adminUrl = process.env.DATABASE_URL?.trim();
let target = 'DATABASE_URL';
if (!adminUrl) {
  adminUrl = (await ensureEmbeddedPostgres(path.join(root, '.nself', 'test'))).url;
  target = 'embedded PostgreSQL';
}
process.stdout.write(`# database: ${target} (${describeDatabase(adminUrl)})\n# test files: ${files.length}\n`);

const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=300000', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NSELF_TEST_ADMIN_URL: adminUrl, DATABASE_URL: '' },
});
process.exit(result.status ?? 1);
