// The schema's function files: applied after the migrations, again whenever one changes, and never twice for nothing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { latestVersion, migrate, SQL_DIR } from '@nself/db';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let sqlDir: string;
let db: TestDatabase;
before(async () => {
  sqlDir = await mkdtemp(path.join(tmpdir(), 'nself-sql-'));
  await cp(SQL_DIR, sqlDir, { recursive: true });
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
  await rm(sqlDir, { recursive: true, force: true });
});

const PAYLOAD_LIMIT_FILE = () => path.join(sqlDir, 'functions', 'realtime.max_payload_bytes.sql');

/** What migrating leaves behind: the records of both kinds of file, and each function's row version in the catalog. */
async function schemaState(): Promise<unknown> {
  const [migrations, functions, catalog] = await Promise.all([
    db.pool.query('SELECT version, name, applied_at FROM realtime.schema_migrations ORDER BY version'),
    db.pool.query('SELECT name, checksum, applied_at FROM realtime.schema_functions ORDER BY name'),
    db.pool.query("SELECT p.oid::regprocedure::text AS signature, p.xmin::text AS version FROM pg_proc p WHERE p.pronamespace = 'realtime'::regnamespace ORDER BY 1"),
  ]);
  return { migrations: migrations.rows, functions: functions.rows, catalog: catalog.rows };
}

async function payloadLimit(): Promise<unknown> {
  const { rows } = await db.pool.query('SELECT realtime.max_payload_bytes() AS bytes, pg_typeof(realtime.max_payload_bytes())::text AS type');
  return rows[0];
}

test('the first migration creates the schema and every function; migrating again applies nothing and rewrites no function', async () => {
  const migrations = (await readdir(path.join(sqlDir, 'migrations')))
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => file.replace(/\.sql$/, ''));
  const first = await migrate(db.pool, sqlDir);
  assert.deepEqual(
    first.applied.map((migration) => migration.name),
    migrations,
  );
  assert.equal(migrations[0], '0018_realtime_schema');
  assert.ok(first.functions.includes('realtime.next_changes') && first.functions.includes('realtime.position_at_commit'));
  const latest = await latestVersion(sqlDir);
  assert.equal(first.toVersion, latest);
  const before = await schemaState();

  const second = await migrate(db.pool, sqlDir);
  assert.deepEqual([second.fromVersion, second.toVersion, second.applied, second.functions, second.created], [latest, latest, [], [], []]);
  assert.deepEqual(await schemaState(), before, 'no record and no function was written again');
});

test('a changed function file is applied again at the next migration, alone, and left unexecutable by PUBLIC', async () => {
  const original = await readFile(PAYLOAD_LIMIT_FILE(), 'utf8');
  assert.match(original, /262144\)/);
  const changed = original.replace('262144)', '1048576)');
  await writeFile(PAYLOAD_LIMIT_FILE(), changed);

  const result = await migrate(db.pool, sqlDir);
  assert.deepEqual([result.applied, result.functions], [[], ['realtime.max_payload_bytes']]);
  assert.deepEqual(await payloadLimit(), { bytes: 1048576, type: 'integer' });
  const { rows } = await db.pool.query(
    "SELECT checksum, has_function_privilege('public', 'realtime.max_payload_bytes()', 'EXECUTE') AS public FROM realtime.schema_functions WHERE name = 'realtime.max_payload_bytes'",
  );
  assert.deepEqual(rows, [{ checksum: createHash('sha256').update(changed).digest('hex'), public: false }]);
  assert.deepEqual((await migrate(db.pool, sqlDir)).functions, [], 'applied once');
});

test('a function whose signature changes is refused with the way to change it, and applied once a migration drops the old one', async () => {
  const before = await schemaState();
  const limit = await payloadLimit();
  const original = await readFile(PAYLOAD_LIMIT_FILE(), 'utf8');
  await writeFile(PAYLOAD_LIMIT_FILE(), original.replace('RETURNS integer', 'RETURNS bigint').replace('::integer', '::bigint'));
  await assert.rejects(
    migrate(db.pool, sqlDir),
    /^Error: function file realtime\.max_payload_bytes\.sql failed: cannot change return type of existing function \(a changed signature needs a migration that drops the old function first: packages\/db\/sql\/README\.md\)$/,
  );
  assert.deepEqual(await schemaState(), before, 'nothing of the failed run stays');
  assert.deepEqual(await payloadLimit(), limit);

  const latest = await latestVersion(sqlDir);
  const name = `${String(latest + 1).padStart(4, '0')}_payload_limit_bigint`;
  await writeFile(path.join(sqlDir, 'migrations', `${name}.sql`), 'DROP FUNCTION realtime.max_payload_bytes();\n');
  const result = await migrate(db.pool, sqlDir);
  assert.deepEqual([result.fromVersion, result.toVersion, result.applied.map((migration) => migration.name)], [latest, latest + 1, [name]]);
  assert.ok(result.functions.length > 1 && result.functions.includes('realtime.max_payload_bytes'), 'every function file is applied after a migration');
  assert.deepEqual(await payloadLimit(), { bytes: '1048576', type: 'bigint' });
  // Functions that call it find the new one.
  await assert.rejects(db.pool.query("SELECT realtime.checked_payload_bytes(to_jsonb(repeat('x', 1048577)), NULL)"), /over the limit of 1048576 bytes/);
});
