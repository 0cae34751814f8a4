// The settings module: the README's configuration table matches it, values are checked the same way everywhere, and nothing reads a setting around it.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readFlag, readSetting, renderSettingsTable, SETTINGS, SETTINGS_TABLE_END, SETTINGS_TABLE_START, type SettingName } from '@nself/db';
import { loadConfig, resolveWorkerCount } from '@nself/server';
import { REPO_ROOT } from '../helpers/cli.js';

const NAMES = Object.keys(SETTINGS) as SettingName[];

/** The README's configuration rows, by variable: the default column as written. */
async function documentedDefaults(): Promise<Map<string, string>> {
  const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(SETTINGS_TABLE_START), readme.indexOf(SETTINGS_TABLE_END));
  const rows = section
    .split('\n')
    .map((line) => line.match(/^\| `([A-Z_]+)` \| [^|]* \| (.*?) \| /))
    .filter((match) => match !== null);
  return new Map(rows.map((match) => [match[1] ?? '', match[2] ?? '']));
}

test('every setting is in the README configuration table, with its default, and the table lists nothing else', async () => {
  const documented = await documentedDefaults();
  const missing = NAMES.filter((name) => !documented.has(name));
  assert.deepEqual(missing, [], `settings missing from README.md (run \`npm run docs:settings\`): ${missing.join(', ')}`);
  const unknown = [...documented.keys()].filter((name) => !(NAMES as string[]).includes(name));
  assert.deepEqual(unknown, [], `README.md documents variables no setting declares: ${unknown.join(', ')}`);
  for (const name of NAMES) {
    assert.equal(documented.get(name), SETTINGS[name].shownDefault, `README.md gives ${name} another default (run \`npm run docs:settings\`)`);
  }
  const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
  assert.ok(
    readme.includes(`${SETTINGS_TABLE_START}\n${renderSettingsTable()}\n${SETTINGS_TABLE_END}`),
    'the README configuration table is not the one the settings render; run `npm run docs:settings`',
  );
});

test('each default shown is the value a setting takes when unset', () => {
  const derived = new Set<SettingName>([
    'DATABASE_URL',
    'NSELF_DATA_DIR',
    'NODE_ENV',
    'REALTIME_HOST',
    'REALTIME_JWT_SECRET',
    'REALTIME_JWT_PUBLIC_KEY',
    'REALTIME_JWKS_URL',
    'HASURA_GRAPHQL_JWT_SECRET',
    'HASURA_GRAPHQL_ADMIN_SECRET',
    'HASURA_GRAPHQL_UNAUTHORIZED_ROLE',
    'REALTIME_LOG_FILE',
    'REALTIME_MAX_PRESENCE_STATE_BYTES',
    'REALTIME_ALLOWED_ORIGINS',
    'REALTIME_ANONYMOUS_ROLE',
    'REALTIME_WORKERS',
  ]);
  for (const name of NAMES.filter((name) => !derived.has(name))) {
    assert.equal(String(readSetting({}, name)), SETTINGS[name].shownDefault, name);
  }
  assert.equal(readSetting({}, 'REALTIME_ANONYMOUS_ROLE'), 'anon');
  assert.deepEqual(readSetting({}, 'REALTIME_ALLOWED_ORIGINS'), []);
  assert.equal(readSetting({}, 'HASURA_GRAPHQL_ADMIN_SECRET'), undefined);
  assert.equal(readSetting({}, 'HASURA_GRAPHQL_UNAUTHORIZED_ROLE'), undefined);
  assert.deepEqual(readSetting({ REALTIME_GRAPHQL_SCHEMAS: ' public, app ' }, 'REALTIME_GRAPHQL_SCHEMAS'), ['public', 'app']);
  assert.equal(loadConfig({}).limits.maxPresenceStateBytes, 1_048_576);
  assert.equal(resolveWorkerCount(readSetting({}, 'REALTIME_WORKERS'), {}).count, 1);
  assert.equal(resolveWorkerCount(readSetting({}, 'REALTIME_WORKERS'), { NODE_ENV: 'production' }).count, availableParallelism());
});

test('REALTIME_WORKERS takes a whole number of processes or auto, and refuses anything else naming what it accepts', () => {
  assert.equal(resolveWorkerCount(readSetting({ REALTIME_WORKERS: '3' }, 'REALTIME_WORKERS'), { NODE_ENV: 'production' }).count, 3);
  assert.equal(resolveWorkerCount(readSetting({ REALTIME_WORKERS: 'auto' }, 'REALTIME_WORKERS'), {}).count, availableParallelism());
  for (const value of ['0', '-1', '2.5', 'many', '257']) {
    assert.throws(() => readSetting({ REALTIME_WORKERS: value }, 'REALTIME_WORKERS'), {
      message: `REALTIME_WORKERS "${value}" is not valid; expected a whole number of processes from 1 to 256, or auto (one per core this process may use)`,
    });
  }
});

test('a value a setting does not accept is refused naming the variable, the value and what is accepted', () => {
  const refusals: [Record<string, string>, RegExp][] = [
    [{ REALTIME_PORT: '70000' }, /^REALTIME_PORT "70000" is not valid; expected a whole number from 0 to 65535$/],
    [{ REALTIME_STALE_AFTER_SECONDS: '-5' }, /^REALTIME_STALE_AFTER_SECONDS "-5" is not valid; expected a whole number from 1 to 86400$/],
    [{ REALTIME_LOG_LEVEL: 'loud' }, /^REALTIME_LOG_LEVEL "loud" is not valid; expected one of: trace, debug, info, warn, error, fatal, silent$/],
    [{ REALTIME_CAPTURE: 'Logical' }, /^REALTIME_CAPTURE "Logical" is not valid; expected one of: auto, wal, trigger$/],
    [{ REALTIME_RETENTION_HOURS: '1e3' }, /^REALTIME_RETENTION_HOURS "1e3" is not valid; expected a number of hours of 0 or more, such as 24 or 72$/],
    [
      { HASURA_GRAPHQL_JWT_SECRET: '{"type":"XS256","key":"k"}' },
      /^HASURA_GRAPHQL_JWT_SECRET has type "XS256"; expected one of HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, ES512, Ed25519, EdDSA$/,
    ],
  ];
  for (const [env, message] of refusals) assert.throws(() => loadConfig(env), { message }, JSON.stringify(env));
  assert.equal(loadConfig({ REALTIME_CAPTURE: ' WAL ' }).capture, 'wal');
  assert.equal(loadConfig({ REALTIME_JWT_SECRET: 'plain', HASURA_GRAPHQL_JWT_SECRET: 'not json' }).jwtSecret, 'plain');
  assert.throws(() => readFlag('REALTIME_PORT', 'http'), { message: /^--port "http" is not valid; expected a whole number from 0 to 65535$/ });
  assert.equal(readFlag('REALTIME_PORT', '4000'), 4000);
});

test('the server and the CLI share one meaning of stale: REALTIME_STALE_AFTER_SECONDS, 300 s unless set', () => {
  assert.equal(loadConfig({}).staleAfterSeconds, 300);
  assert.equal(readSetting({}, 'REALTIME_STALE_AFTER_SECONDS'), 300);
  assert.equal(loadConfig({ REALTIME_STALE_AFTER_SECONDS: '45' }).staleAfterSeconds, 45);
});

test('no source outside the settings module reads a setting from the environment itself', async () => {
  const pattern = new RegExp(`\\benv(?:\\.|\\[')(?:${NAMES.join('|')})\\b`);
  const offenders: string[] = [];
  for (const pkg of ['db', 'server', 'cli']) {
    const dir = path.join(REPO_ROOT, 'packages', pkg, 'src');
    for (const file of await readdir(dir, { recursive: true })) {
      if (!file.endsWith('.ts') || (file.startsWith(`config${path.sep}`) && pkg === 'db')) continue;
      const source = await readFile(path.join(dir, file), 'utf8');
      if (pattern.test(source)) offenders.push(`packages/${pkg}/src/${file}`);
    }
  }
  assert.deepEqual(offenders, [], 'these files read settings from the environment instead of through readSetting');
});
