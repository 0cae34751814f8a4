// The seed's Security section pasted as written: row-level security on realtime.channels with a policy on auth.uid(),
// queried as two users the way PostgREST and Hasura set them, while the server and the CLI go on as the owner.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { addMember, createChannel, listChannels } from '@nself/db';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase({ migrated: true });
});
after(async () => {
  await db.drop();
});

/** The slugs of realtime.channels that `role` sees with `settings` (PostgREST's claims, or Hasura's session). */
async function channelsSeenAs(role: string, settings: Record<string, string>): Promise<string[]> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    for (const [name, value] of Object.entries(settings)) await client.query('SELECT set_config($1, $2, true)', [name, value]);
    await client.query("SELECT set_config('role', $1, true)", [role]);
    const { rows } = await client.query<{ slug: string }>('SELECT slug FROM realtime.channels ORDER BY slug');
    return rows.map((row) => row.slug);
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

test("the seed's policy pasted as written is created, and each user then sees only the channels they are a member of", async () => {
  const general = await createChannel(db.pool, { name: 'general', type: 'private' });
  const support = await createChannel(db.pool, { name: 'support', type: 'private' });
  const teamAlpha = await createChannel(db.pool, { name: 'team-alpha', type: 'private' });
  await addMember(db.pool, { channelId: general.id, userId: 'user-123' });
  await addMember(db.pool, { channelId: support.id, userId: 'user-456', role: 'moderator' });
  await addMember(db.pool, { channelId: teamAlpha.id, userId: 'user-123', role: 'admin' });
  await addMember(db.pool, { channelId: teamAlpha.id, userId: '6f1c1d3e-0000-4000-8000-000000000001' });

  // The seed's Security section, as written.
  await db.pool.query(`
    ALTER TABLE realtime.channels ENABLE ROW LEVEL SECURITY;

    CREATE POLICY "Users can only see channels they're members of"
    ON realtime.channels FOR SELECT
    USING (
      id IN (
        SELECT channel_id FROM realtime.channel_members
        WHERE user_id = auth.uid()
      )
    );`);
  await db.pool.query(`
    DO $$ BEGIN CREATE ROLE seed_app_user NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    GRANT SELECT ON realtime.channels, realtime.channel_members TO seed_app_user`);
  try {
    assert.deepEqual(await channelsSeenAs('seed_app_user', { 'request.jwt.claims': JSON.stringify({ sub: 'user-123', role: 'seed_app_user' }) }), ['general', 'team-alpha']);
    assert.deepEqual(await channelsSeenAs('seed_app_user', { 'request.jwt.claim.sub': 'user-456' }), ['support']);
    assert.deepEqual(await channelsSeenAs('seed_app_user', { 'hasura.user': JSON.stringify({ 'x-hasura-user-id': 'user-456', 'x-hasura-role': 'user' }) }), ['support']);
    // A Supabase token's sub is a uuid, compared with a text user id as text is.
    assert.deepEqual(await channelsSeenAs('seed_app_user', { 'request.jwt.claim.sub': '6f1c1d3e-0000-4000-8000-000000000001' }), ['team-alpha']);
    assert.deepEqual(await channelsSeenAs('seed_app_user', {}), [], 'no user, no channel');
    // The owner (the server and the CLI) is not subject to it.
    assert.equal((await listChannels(db.pool)).length, 3);
  } finally {
    await db.pool.query('REVOKE ALL ON realtime.channels, realtime.channel_members FROM seed_app_user; DROP ROLE seed_app_user');
  }
});

test("auth.uid() compares with uuid columns too, as Supabase's policies write it, and an index on the uuid column serves it", async () => {
  await db.pool.query(`
    CREATE TABLE public.rooms_users (user_id uuid NOT NULL, topic text NOT NULL, PRIMARY KEY (user_id, topic));
    INSERT INTO public.rooms_users SELECT gen_random_uuid(), 'room:' || n FROM generate_series(1, 2000) AS n;
    INSERT INTO public.rooms_users VALUES ('6f1c1d3e-0000-4000-8000-000000000001', 'room:mine');
    ANALYZE public.rooms_users`);
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT set_config('request.jwt.claim.sub', '6F1C1D3E-0000-4000-8000-000000000001', true)");
    const { rows } = await client.query('SELECT topic FROM public.rooms_users WHERE user_id = (SELECT auth.uid())');
    assert.deepEqual(rows, [{ topic: 'room:mine' }]);
    const plan = (await client.query('EXPLAIN SELECT topic FROM public.rooms_users WHERE user_id = (SELECT auth.uid())')).rows
      .map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN'])
      .join('\n');
    assert.match(plan, /Index (Only )?Scan using rooms_users_pkey/);
    await client.query("SELECT set_config('request.jwt.claim.sub', 'user-123', true)");
    assert.deepEqual((await client.query('SELECT topic FROM public.rooms_users WHERE user_id = auth.uid()')).rows, [], 'a sub that is no uuid matches no uuid');
    // A comparison with a literal is uuid's own, as before.
    assert.equal((await client.query("SELECT count(*)::int AS n FROM public.rooms_users WHERE user_id = '6F1C1D3E-0000-4000-8000-000000000001'")).rows[0].n, 1);
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
});
