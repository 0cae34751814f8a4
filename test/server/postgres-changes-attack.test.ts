// Table changes against a hostile subscriber: nothing of a row leaks through `old`, DELETEs or DELETE filters under row-level security, and system schemas stay shut.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { capturesFromWal } from '../helpers/database.js';
import { settle, useRoleServer, watchChanges, type Change } from './postgres-changes-support.js';
import { RawClient } from './raw-client.js';
import { supabase } from './support.js';
import { startTestServer } from '../helpers/server.js';
import { token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const env = useRoleServer(
  'rt_user',
  (role) => `
    GRANT USAGE ON SCHEMA public TO ${role};
    CREATE FUNCTION token_sub() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting('request.jwt.claims', true)::jsonb ->> 'sub' $$;
    CREATE TABLE docs (id int PRIMARY KEY, owner text NOT NULL, body text, salary int);
    ALTER TABLE docs REPLICA IDENTITY FULL;
    CREATE TABLE keyed (id int PRIMARY KEY, owner text NOT NULL, salary int);
    GRANT SELECT ON docs, keyed TO ${role};
    ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
    ALTER TABLE keyed ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_docs ON docs FOR SELECT TO ${role} USING (owner = token_sub());
    CREATE POLICY own_keyed ON keyed FOR SELECT TO ${role} USING (owner = token_sub());
  `,
);

const summary = (changes: Change[]) => changes.map((change) => [change.eventType, change.new, change.old]);

test('an UPDATE that hands a row to a user shows them only its key in old, live and on a resume from position 0', async () => {
  const bob = await env.userClient('bob');
  const service = supabase(env.server, { key: await token(undefined, { role: 'service_role' }) });
  try {
    const ofBob = await watchChanges(bob, 'handed', [{ event: 'UPDATE', schema: 'public', table: 'docs' }]);
    const ofService = await watchChanges(service, 'handed-service', [{ event: 'UPDATE', schema: 'public', table: 'docs' }]);
    await env.db.pool.query(`INSERT INTO docs VALUES (1, 'alice', 'plans of alice', 150000)`);
    await env.db.pool.query(`UPDATE docs SET owner = 'bob', body = 'public now', salary = 0 WHERE id = 1`);
    await waitFor(() => ofBob.changes.length === 1 && ofService.changes.length === 1, 'the UPDATE');
    assert.deepEqual(summary(ofBob.changes), [['UPDATE', { id: 1, owner: 'bob', body: 'public now', salary: 0 }, { id: 1 }]], 'the row as alice had it is not shown to bob');
    assert.deepEqual(ofService.changes[0]?.old, { id: 1, owner: 'alice', body: 'plans of alice', salary: 150000 }, 'the service role sees the whole old row');

    const bobToken = await token('bob', { role: env.role });
    const raw = await RawClient.open(env.server, `vsn=2.0.0&apikey=${bobToken}`);
    try {
      await raw.join(
        'realtime:replayed',
        '1',
        {
          postgres_changes: [{ event: 'UPDATE', schema: 'public', table: 'docs' }],
          postgres_changes_resume: { position: 0 },
        },
        { access_token: bobToken },
      );
      const frame = await raw.expect((candidate) => candidate[3] === 'postgres_changes', 'the replayed UPDATE');
      const data = (frame[4] as { data: { record: unknown; old_record: unknown } }).data;
      assert.deepEqual([data.record, data.old_record], [{ id: 1, owner: 'bob', body: 'public now', salary: 0 }, { id: 1 }]);
    } finally {
      await raw.close();
    }
  } finally {
    await bob.removeAllChannels();
    await service.removeAllChannels();
  }
});

test('with REPLICA IDENTITY FULL a DELETE reaches only users whose policy let them see the row, with its key alone', async () => {
  const alice = await env.userClient('alice');
  const bob = await env.userClient('bob');
  try {
    await env.db.pool.query(`INSERT INTO docs VALUES (2, 'alice', 'a', 1), (3, 'bob', 'b', 2)`);
    const ofAlice = await watchChanges(alice, 'deletes-alice', [{ event: 'DELETE', schema: 'public', table: 'docs' }]);
    const ofBob = await watchChanges(bob, 'deletes-bob', [{ event: 'DELETE', schema: 'public', table: 'docs' }]);
    await env.db.pool.query('DELETE FROM docs WHERE id IN (2, 3)');
    await waitFor(() => ofAlice.changes.length > 0 && ofBob.changes.length > 0, 'each owner the DELETE of their row');
    await settle();
    assert.deepEqual(summary(ofAlice.changes), [['DELETE', {}, { id: 2 }]]);
    assert.deepEqual(summary(ofBob.changes), [['DELETE', {}, { id: 3 }]]);
  } finally {
    await alice.removeAllChannels();
    await bob.removeAllChannels();
  }
});

test('a DELETE filter on a hidden value never matches under row-level security; on the key it does, and the service role is judged on the whole row', async () => {
  const bob = await env.userClient('bob');
  const service = supabase(env.server, { key: await token(undefined, { role: 'service_role' }) });
  try {
    await env.db.pool.query(`INSERT INTO keyed VALUES (10, 'alice', 150000), (11, 'alice', 50000), (12, 'alice', 1)`);
    await env.db.pool.query(`INSERT INTO docs VALUES (20, 'bob', 'x', 150000)`);
    const rich = await watchChanges(bob, 'rich', [
      { event: 'DELETE', schema: 'public', table: 'keyed', filter: 'salary=gt.100000' },
      { event: 'DELETE', schema: 'public', table: 'docs', filter: 'salary=gt.100000' },
    ]);
    const byKey = await watchChanges(bob, 'by-key', [{ event: 'DELETE', schema: 'public', table: 'keyed', filter: 'id=eq.12' }]);
    const unfiltered = await watchChanges(bob, 'unfiltered', [{ event: 'DELETE', schema: 'public', table: 'keyed' }]);
    const ofService = await watchChanges(service, 'rich-service', [{ event: 'DELETE', schema: 'public', table: 'keyed', filter: 'salary=gt.100000' }]);
    await env.db.pool.query('DELETE FROM keyed WHERE id IN (10, 11, 12)');
    await env.db.pool.query('DELETE FROM docs WHERE id = 20');
    // From the WAL, a DELETE under the default replica identity holds only the key, even for the service role.
    const wholeOldRow = !(await capturesFromWal(env.db.pool));
    await waitFor(() => unfiltered.changes.length === 3 && byKey.changes.length === 1 && ofService.changes.length === (wholeOldRow ? 1 : 0), 'the DELETEs');
    await settle();
    // The default replica identity keeps only the key: which rows bob could see cannot be known, so
    // every DELETE reaches him with its key alone, as in Supabase; a filter cannot tell them apart.
    assert.deepEqual(summary(unfiltered.changes), [
      ['DELETE', {}, { id: 10 }],
      ['DELETE', {}, { id: 11 }],
      ['DELETE', {}, { id: 12 }],
    ]);
    assert.deepEqual(summary(rich.changes), [], 'no filter on a hidden column reveals which rows matched, even on his own row');
    assert.deepEqual(summary(byKey.changes), [['DELETE', {}, { id: 12 }]]);
    assert.deepEqual(summary(ofService.changes), wholeOldRow ? [['DELETE', {}, { id: 10 }]] : []);
  } finally {
    await bob.removeAllChannels();
    await service.removeAllChannels();
  }
});

test('system schemas are refused to users, and a join never sets up capture in them', async () => {
  const bob = await env.userClient('bob');
  const service = supabase(env.server, { key: await token(undefined, { role: 'service_role' }) });
  try {
    for (const [schema, table] of [
      ['pg_catalog', 'pg_authid'],
      ['information_schema', 'sql_features'],
      ['pg_toast', '*'],
    ] as const) {
      const refused = await watchChanges(bob, `system-${schema}`, [{ event: '*', schema, ...(table === '*' ? {} : { table }) }]);
      assert.equal(refused.system[0]?.status, 'error');
      assert.match(refused.system[0]?.message ?? '', new RegExp(`tables of the ${schema} schema are PostgreSQL's own; only the service role may watch them`));
    }
    const uncaptured = await watchChanges(service, 'system-service', [{ event: '*', schema: 'information_schema', table: 'sql_features' }]);
    assert.equal(uncaptured.system[0]?.status, 'error');
    assert.match(uncaptured.system[0]?.message ?? '', /the server never sets up capture in PostgreSQL's own schema information_schema/);
    const { rows } = await env.db.pool.query(`SELECT count(*)::int AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname IN ('information_schema', 'pg_catalog') AND NOT t.tgisinternal`);
    assert.equal(rows[0]?.n, 0, 'no trigger in a system schema');
  } finally {
    await bob.removeAllChannels();
    await service.removeAllChannels();
  }
});

test('in development mode a client without a token acts as the anonymous role when the database has one', async () => {
  const anonymous = `rt_anon_${randomBytes(4).toString('hex')}`;
  await env.db.pool.query(`CREATE ROLE ${anonymous} NOLOGIN; GRANT USAGE ON SCHEMA public TO ${anonymous};
    CREATE TABLE listed (id int PRIMARY KEY, body text); GRANT SELECT ON listed TO ${anonymous};
    CREATE TABLE unlisted (id int PRIMARY KEY, password_hash text)`);
  const development = await startTestServer(env.db, { anonymousRole: anonymous });
  const client = supabase(development);
  try {
    const hidden = await watchChanges(client, 'dev-unlisted', [{ event: '*', schema: 'public', table: 'unlisted' }]);
    assert.equal(hidden.system[0]?.status, 'error');
    assert.match(hidden.system[0]?.message ?? '', new RegExp(`role "${anonymous}" may not SELECT from public\\.unlisted`));
    const shown = await watchChanges(client, 'dev-listed', [{ event: '*', schema: 'public', table: 'listed' }]);
    assert.equal(shown.system[0]?.message, 'Subscribed to PostgreSQL');
    await env.db.pool.query(`INSERT INTO unlisted VALUES (1, 'hash'); INSERT INTO listed VALUES (1, 'hello')`);
    await waitFor(() => shown.changes.length === 1, 'the readable table');
    await settle();
    assert.deepEqual(hidden.changes, []);
  } finally {
    await client.removeAllChannels();
    await development.close();
    await env.db.pool.query(`DROP TABLE listed, unlisted; DROP OWNED BY ${anonymous}; DROP ROLE ${anonymous}`);
  }
});
