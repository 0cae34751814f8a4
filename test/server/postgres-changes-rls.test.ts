// Conformance: table changes under each token's role: row-level security per user, hidden columns, refused tables and roles.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { settle, useRoleServer, watchChanges, type Change } from './postgres-changes-support.js';
import { supabase } from './support.js';
import { token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const env = useRoleServer(
  'rt_reader',
  (role) => `
    CREATE TABLE notes (id serial PRIMARY KEY, owner text NOT NULL, body text, secret text);
    GRANT USAGE ON SCHEMA public TO ${role};
    GRANT SELECT (id, owner, body) ON notes TO ${role};
    ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_notes ON notes FOR SELECT TO ${role}
      USING (owner = current_setting('request.jwt.claims', true)::jsonb ->> 'sub');
    CREATE TABLE payroll (id int PRIMARY KEY, amount int);
  `,
);

for (const vsn of ['1.0.0', '2.0.0'] as const) {
  test(`with row-level security each user receives only their own rows, without the columns their role may not select (vsn ${vsn})`, async () => {
    const alice = await env.userClient('alice', vsn);
    const bob = await env.userClient('bob', vsn);
    const service = supabase(env.server, { key: await token(undefined, { role: 'service_role' }), vsn });
    try {
      const ofAlice = await watchChanges(alice, `alice-${vsn}`, [{ event: '*', schema: 'public', table: 'notes' }]);
      const ofBob = await watchChanges(bob, `bob-${vsn}`, [{ event: '*', schema: 'public', table: 'notes' }]);
      const ofService = await watchChanges(service, `service-${vsn}`, [{ event: '*', schema: 'public', table: 'notes' }]);
      assert.equal(ofAlice.system[0]?.message, 'Subscribed to PostgreSQL');

      const { rows } = await env.db.pool.query<{ id: number }>(
        `INSERT INTO notes (owner, body, secret) VALUES ('alice', 'a1', 's1'), ('bob', 'b1', 's2'), ('alice', 'a2', 's3') RETURNING id`,
      );
      const [a1, b1, a2] = rows.map((row) => row.id) as [number, number, number];
      await env.db.pool.query(`UPDATE notes SET body = 'b1!' WHERE id = $1`, [b1]);
      await env.db.pool.query(`UPDATE notes SET owner = 'bob' WHERE id = $1`, [a2]);
      await env.db.pool.query('DELETE FROM notes WHERE id = ANY($1)', [[a1, b1]]);
      await waitFor(() => ofService.changes.length === 7, 'every change on the service role');
      await waitFor(() => ofAlice.changes.length === 4 && ofBob.changes.length === 5, 'each user receiving theirs');
      await settle();

      // Rows are judged as they were written, although a1 and b1 are gone by the time the changes are read.
      const summary = (changes: Change[]) => changes.map((change) => [change.eventType, change.new, change.old]);
      assert.deepEqual(summary(ofAlice.changes), [
        ['INSERT', { id: a1, owner: 'alice', body: 'a1' }, {}],
        ['INSERT', { id: a2, owner: 'alice', body: 'a2' }, {}],
        ['DELETE', {}, { id: a1 }],
        ['DELETE', {}, { id: b1 }],
      ]);
      assert.deepEqual(summary(ofBob.changes), [
        ['INSERT', { id: b1, owner: 'bob', body: 'b1' }, {}],
        ['UPDATE', { id: b1, owner: 'bob', body: 'b1!' }, { id: b1 }],
        ['UPDATE', { id: a2, owner: 'bob', body: 'a2' }, { id: a2 }],
        ['DELETE', {}, { id: a1 }],
        ['DELETE', {}, { id: b1 }],
      ]);
      assert.deepEqual(ofService.changes[0]?.new, { id: a1, owner: 'alice', body: 'a1', secret: 's1' }, 'the service role sees every column');
    } finally {
      await alice.removeAllChannels();
      await bob.removeAllChannels();
      await service.removeAllChannels();
    }
  });
}

test('restrictive policies narrow what the permissive ones allow, and a policy may consult other tables', async () => {
  await env.db.pool.query(`
    CREATE TABLE muted (owner text PRIMARY KEY);
    GRANT SELECT ON muted TO ${env.role};
    CREATE POLICY not_drafts ON notes AS RESTRICTIVE FOR SELECT TO ${env.role} USING (body IS DISTINCT FROM 'draft');
    CREATE POLICY not_muted ON notes AS RESTRICTIVE FOR SELECT TO ${env.role} USING (NOT EXISTS (SELECT 1 FROM muted m WHERE m.owner = notes.owner));
  `);
  const carol = await env.userClient('carol');
  const dave = await env.userClient('dave');
  try {
    const ofCarol = await watchChanges(carol, 'carol', [{ event: '*', schema: 'public', table: 'notes' }]);
    const ofDave = await watchChanges(dave, 'dave', [{ event: '*', schema: 'public', table: 'notes' }]);
    await env.db.pool.query(`INSERT INTO muted VALUES ('dave')`);
    await env.db.pool.query(`INSERT INTO notes (owner, body) VALUES ('carol', 'draft'), ('carol', 'final'), ('dave', 'anything')`);
    await waitFor(() => ofCarol.changes.length === 1, "carol's published note");
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(
      ofCarol.changes.map((change) => (change.new as { body: string }).body),
      ['final'],
    );
    assert.deepEqual(ofDave.changes, [], 'a muted owner sees nothing');
  } finally {
    await carol.removeAllChannels();
    await dave.removeAllChannels();
    await env.db.pool.query('DROP POLICY not_drafts ON notes; DROP POLICY not_muted ON notes');
  }
});

test('a filter on a column the role may not select, a table it may not read, and a role the database lacks are refused', async () => {
  const alice = await env.userClient('alice');
  const stranger = supabase(env.server, { key: await token(undefined, { role: 'no_such_role' }), accessToken: await token('carol', { role: 'no_such_role' }) });
  try {
    await stranger.realtime.setAuth();
    const hidden = await watchChanges(alice, 'hidden-filter', [{ event: '*', schema: 'public', table: 'notes', filter: 'secret=eq.s1' }]);
    assert.equal(hidden.system[0]?.status, 'error');
    assert.match(hidden.system[0]?.message ?? '', new RegExp(`role "${env.role}" may not SELECT column secret of public\\.notes`));
    const payroll = await watchChanges(alice, 'payroll', [{ event: '*', schema: 'public', table: 'payroll' }]);
    assert.match(payroll.system[0]?.message ?? '', new RegExp(`role "${env.role}" may not SELECT from public\\.payroll`));
    const unknown = await watchChanges(stranger, 'unknown-role', [{ event: '*', schema: 'public', table: 'notes' }]);
    assert.match(unknown.system[0]?.message ?? '', /the token's role "no_such_role" does not exist in the database/);

    await env.db.pool.query(`INSERT INTO payroll VALUES (1, 100)`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual([hidden.changes, payroll.changes, unknown.changes], [[], [], []], 'refused bindings receive nothing');
  } finally {
    await alice.removeAllChannels();
    await stranger.removeAllChannels();
  }
});

test('a role dropped while subscribed stops receiving, and nobody else is held up', async () => {
  const doomed = `rt_doomed_${randomBytes(4).toString('hex')}`;
  await env.db.pool.query(`CREATE ROLE ${doomed} NOLOGIN; GRANT USAGE ON SCHEMA public TO ${doomed}; GRANT SELECT ON payroll TO ${doomed}`);
  const victim = supabase(env.server, { key: await token(undefined, { role: doomed }), accessToken: await token('erin', { role: doomed }) });
  const service = supabase(env.server, { key: await token(undefined, { role: 'service_role' }) });
  try {
    await victim.realtime.setAuth();
    const ofVictim = await watchChanges(victim, 'doomed', [{ event: '*', schema: 'public', table: 'payroll' }]);
    const ofService = await watchChanges(service, 'payroll-service', [{ event: '*', schema: 'public', table: 'payroll' }]);
    await env.db.pool.query('INSERT INTO payroll VALUES (10, 1)');
    await waitFor(() => ofVictim.changes.length === 1, 'the first row while the role exists');
    await env.db.pool.query(`DROP OWNED BY ${doomed}; DROP ROLE ${doomed}`);
    await env.db.pool.query('INSERT INTO payroll VALUES (11, 2)');
    await waitFor(() => ofService.changes.length === 2, 'the service role receiving both rows');
    await settle();
    assert.equal(ofVictim.changes.length, 1);
  } finally {
    await victim.removeAllChannels();
    await service.removeAllChannels();
    await env.db.pool.query(`DROP ROLE IF EXISTS ${doomed}`);
  }
});

test('privileges, policies, role attributes and memberships changed while subscribed apply from the next change on', async () => {
  const readers = `rt_secret_readers_${randomBytes(4).toString('hex')}`;
  const client = await env.userClient('alice');
  try {
    const seen = await watchChanges(client, 'changing-rights', [{ event: 'INSERT', schema: 'public', table: 'notes' }]);
    // Each step changes the catalog, inserts a row of bob and one of alice, then a marker row of alice:
    // changes arrive in commit order, so once the marker is in, so is everything before it.
    const step = async (change: string | null, body: string): Promise<Array<Record<string, unknown>>> => {
      if (change) await env.db.pool.query(change);
      await env.db.pool.query(`INSERT INTO notes (owner, body, secret) VALUES ('bob', $1, 'hidden'), ('alice', $1, 'hidden')`, [body]);
      const {
        rows: [marker],
      } = await env.db.pool.query<{ id: number }>(`INSERT INTO notes (owner, body) VALUES ('alice', 'marker') RETURNING id`);
      await waitFor(() => seen.changes.some((c) => (c.new as { id?: number }).id === marker?.id), `the marker row after: ${change ?? 'no change'}`);
      return seen.changes
        .splice(0)
        .map((c) => c.new as Record<string, unknown>)
        .filter((row) => row['id'] !== marker?.id)
        .map(({ id: _id, ...rest }) => rest);
    };
    assert.deepEqual(await step(null, 'before'), [{ owner: 'alice', body: 'before' }]);
    assert.deepEqual(await step(`REVOKE SELECT (body) ON notes FROM ${env.role}`, 'revoked'), [{ owner: 'alice' }], 'a revoked column is left out at once');
    assert.deepEqual(await step(`GRANT SELECT (body) ON notes TO ${env.role}`, 'granted'), [{ owner: 'alice', body: 'granted' }]);
    await env.db.pool.query(`CREATE ROLE ${readers} NOLOGIN; GRANT SELECT (secret) ON notes TO ${readers}`);
    assert.deepEqual(
      await step(`GRANT ${readers} TO ${env.role}`, 'member'),
      [{ owner: 'alice', body: 'member', secret: 'hidden' }],
      'a column granted through a new membership is shown',
    );
    assert.deepEqual(await step(`REVOKE ${readers} FROM ${env.role}`, 'left'), [{ owner: 'alice', body: 'left' }]);
    assert.deepEqual(
      await step(`ALTER ROLE ${env.role} BYPASSRLS`, 'bypass'),
      [
        { owner: 'bob', body: 'bypass' },
        { owner: 'alice', body: 'bypass' },
      ],
      'BYPASSRLS shows every row',
    );
    assert.deepEqual(await step(`ALTER ROLE ${env.role} NOBYPASSRLS`, 'policed'), [{ owner: 'alice', body: 'policed' }]);
    assert.deepEqual(
      await step('ALTER POLICY own_notes ON notes USING (true)', 'open'),
      [
        { owner: 'bob', body: 'open' },
        { owner: 'alice', body: 'open' },
      ],
      'an altered policy applies',
    );
    assert.deepEqual(await step(`ALTER POLICY own_notes ON notes USING (owner = current_setting('request.jwt.claims', true)::jsonb ->> 'sub')`, 'own'), [
      { owner: 'alice', body: 'own' },
    ]);
  } finally {
    await client.removeAllChannels();
    await env.db.pool.query(`GRANT SELECT (id, owner, body) ON notes TO ${env.role}; ALTER ROLE ${env.role} NOBYPASSRLS`);
    await env.db.pool.query(`DROP OWNED BY ${readers}; DROP ROLE ${readers}`).catch(() => undefined);
    await env.db.pool.query(`ALTER POLICY own_notes ON notes USING (owner = current_setting('request.jwt.claims', true)::jsonb ->> 'sub')`);
  }
});

test('a new access token switches whose rows the channel receives', async () => {
  const client = await env.userClient('alice');
  try {
    const seen = await watchChanges(client, 'switching', [{ event: '*', schema: 'public', table: 'notes' }]);
    await env.db.pool.query(`INSERT INTO notes (owner, body) VALUES ('alice', 'first')`);
    await waitFor(() => seen.changes.length === 1, "alice's row");
    await client.realtime.setAuth(await token('bob', { role: env.role }));
    await waitFor(async () => {
      await env.db.pool.query(`INSERT INTO notes (owner, body) VALUES ('bob', 'probe')`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      return seen.changes.some((change) => (change.new as { owner?: string }).owner === 'bob');
    }, "bob's rows after the token changed");
    await env.db.pool.query(`INSERT INTO notes (owner, body) VALUES ('alice', 'after')`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(
      seen.changes.some((change) => (change.new as { body?: string }).body === 'after'),
      false,
      "alice's later rows are no longer sent",
    );
  } finally {
    await client.removeAllChannels();
  }
});
