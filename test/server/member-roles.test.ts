// Member roles that mean something: what members, moderators, admins, the service role and the operator may do to a
// channel's messages and members, over REST, SQL as the user's role and the CLI, and what live clients see of it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { createClient } from '@supabase/supabase-js';
import { addMember, appendMessage, createChannel } from '@nself/db';
import { realtime } from '../helpers/cli.js';
import { useTestServer } from '../helpers/server.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { RawClient } from './raw-client.js';

const env = useTestServer({ jwtSecret: JWT_SECRET });

/** A channel with an admin, a moderator and two members. */
async function team(name: string, metadata: Record<string, unknown> = {}): Promise<string> {
  const channel = await createChannel(env.db.pool, { name, type: 'private', metadata });
  for (const [userId, role] of [
    ['adam', 'admin'],
    ['mona', 'moderator'],
    ['mike', 'member'],
    ['mary', 'member'],
  ] as const) {
    await addMember(env.db.pool, { channelId: channel.id, userId, role });
  }
  return channel.id;
}

/** A REST call as `user` (undefined: the service role). */
async function rest(user: string | undefined, method: 'DELETE' | 'PUT' | 'PATCH', path: string, body?: unknown): Promise<{ status: number; error?: string }> {
  const bearer = user === undefined ? await token(undefined, { role: 'service_role' }) : await token(user);
  const response = await fetch(`${env.server.url}/realtime/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, ...(text ? { error: (JSON.parse(text) as { error?: string }).error } : {}) };
}

/** A raw V2 client of `user` joined to the private channel `name`. */
async function watcher(user: string, name: string): Promise<RawClient> {
  const client = await RawClient.open(env.server, `vsn=2.0.0&apikey=${await token(user)}`);
  const reply = await client.join(`realtime:${name}`, '1', { private: true }, { access_token: await token(user) });
  assert.equal((reply[4] as { status?: string }).status, 'ok', JSON.stringify(reply));
  return client;
}

test('a moderator deletes a message while two members watch: both are told which one went, history and a later replay lack it, and supabase-js goes on', async () => {
  const channelId = await team('roles-delete');
  const [mike, mary] = [await watcher('mike', 'roles-delete'), await watcher('mary', 'roles-delete')];
  const supabase = createClient(`http://127.0.0.1:${env.server.port}`, await token(undefined, { role: 'anon' }), {
    realtime: { transport: WebSocket as never, timeout: 5_000, heartbeatIntervalMs: 5_000 },
  });
  await supabase.realtime.setAuth(await token('mary'));
  const seen: unknown[] = [];
  const channel = supabase.channel('roles-delete', { config: { private: true } }).on('broadcast', { event: '*' }, (message) => seen.push(message['payload']));
  await new Promise<void>((resolve, reject) => channel.subscribe((status) => (status === 'SUBSCRIBED' ? resolve() : status !== 'CLOSED' && reject(new Error(status)))));
  try {
    const sent = [];
    for (const text of ['one', 'two', 'three']) sent.push(await appendMessage(env.db.pool, { channelId, event: 'chat', payload: { text }, sender: 'mike' }));
    await waitFor(() => seen.length === 3, 'the three messages at the supabase-js client');

    assert.deepEqual(await rest('mona', 'DELETE', '/api/channels/roles-delete/messages/2'), { status: 204 });
    for (const client of [mike, mary]) {
      const frame = await client.expect((candidate) => candidate[3] === 'message_deleted', 'the deletion');
      assert.deepEqual(frame[4], { id: sent[1]?.id, offset: 2 });
      assert.equal(frame[2], 'realtime:roles-delete');
    }
    const history = (await (await fetch(`${env.server.url}/api/channels/roles-delete/messages`, { headers: { authorization: `Bearer ${await token('mary')}` } })).json()) as {
      messages: Array<{ offset: number }>;
    };
    assert.deepEqual(
      history.messages.map((message) => message.offset),
      [1, 3],
    );
    const late = await RawClient.open(env.server, `vsn=2.0.0&apikey=${await token('mike')}`);
    await late.join(
      'realtime:roles-delete',
      '1',
      { private: true, broadcast: { self: false, ack: false, replay: { since: 0, limit: 25 } } },
      { access_token: await token('mike') },
    );
    await waitFor(() => late.frames.filter((frame) => frame[3] === 'broadcast').length === 2, 'the replay');
    await sleep(200);
    assert.deepEqual(
      late.frames.filter((frame) => frame[3] === 'broadcast').map((frame) => (frame[4]['meta'] as { offset: number }).offset),
      [1, 3],
    );
    await late.close();

    // The unmodified client ignores the event it has no binding for, and keeps receiving.
    await appendMessage(env.db.pool, { channelId, event: 'chat', payload: { text: 'four' }, sender: 'mike' });
    await waitFor(() => seen.length === 4, 'a message after the deletion');
  } finally {
    await Promise.all([mike.close(), mary.close(), supabase.removeAllChannels()]);
  }
});

test('over REST each role may do what the seed gives it, no more, and each refusal names the rule', async () => {
  const channelId = await team('roles-rest', { max_members: 4 });
  for (const text of ['a', 'b', 'c', 'd']) await appendMessage(env.db.pool, { channelId, event: 'chat', payload: { text } });
  const path = '/api/channels/roles-rest';

  assert.deepEqual(await rest('mike', 'DELETE', `${path}/messages/1`), {
    status: 403,
    error: 'only a moderator or an admin of channel "roles-rest" may delete its messages; the caller is a member',
  });
  assert.deepEqual(await rest('stranger', 'DELETE', `${path}/messages/1`), {
    status: 403,
    error: 'only a moderator or an admin of channel "roles-rest" may delete its messages; the caller is not a member',
  });
  assert.deepEqual(await rest('mona', 'DELETE', `${path}/messages/9`), { status: 404, error: 'channel "roles-rest" has no message at offset 9' });
  assert.deepEqual(await rest('mona', 'DELETE', `${path}/members/adam`), {
    status: 403,
    error: 'only an admin of channel "roles-rest" may remove its admins (a moderator may remove members); the caller is a moderator',
  });
  assert.deepEqual(await rest('mike', 'PUT', `${path}/members/mary`, { role: 'admin' }), {
    status: 403,
    error: 'only an admin of channel "roles-rest" may add members or change roles; the caller is a member',
  });
  assert.deepEqual(await rest('adam', 'PUT', `${path}/members/mary`, { role: 'owner' }), { status: 422, error: 'role is "owner"; it must be member, moderator or admin' });

  // Promotion and demotion take effect at once.
  assert.deepEqual(await rest('adam', 'PUT', `${path}/members/mike`, { role: 'moderator' }), { status: 204 });
  assert.deepEqual(await rest('mike', 'DELETE', `${path}/messages/1`), { status: 204 });
  assert.deepEqual(await rest('adam', 'PUT', `${path}/members/mona`, { role: 'member' }), { status: 204 });
  assert.equal((await rest('mona', 'DELETE', `${path}/messages/2`)).status, 403);

  // A member may leave; the admin adds up to max_members; the service role does anything.
  assert.deepEqual(await rest('mary', 'DELETE', `${path}/members/mary`), { status: 204 });
  assert.deepEqual(await rest('adam', 'PUT', `${path}/members/nora`, {}), { status: 204 });
  assert.deepEqual(await rest('adam', 'PUT', `${path}/members/owen`, { role: 'member' }), {
    status: 409,
    error:
      'channel "roles-rest" is full: it has 4 members and its max_members is 4; remove a member (nself realtime channel leave) or raise max_members in the channel\'s metadata',
  });
  assert.deepEqual(await rest(undefined, 'DELETE', `${path}/members/adam`), { status: 204 });
  assert.deepEqual(await rest(undefined, 'DELETE', `${path}/messages/4`), { status: 204 });
  const { rows } = await env.db.pool.query('SELECT user_id, role FROM realtime.channel_members WHERE channel_id = $1 ORDER BY user_id', [channelId]);
  assert.deepEqual(rows, [
    { user_id: 'mike', role: 'moderator' },
    { user_id: 'mona', role: 'member' },
    { user_id: 'nora', role: 'member' },
  ]);
  const { rows: left } = await env.db.pool.query('SELECT channel_offset FROM realtime.messages WHERE channel_id = $1 ORDER BY 1', [channelId]);
  assert.deepEqual(
    left.map((row) => Number(row.channel_offset)),
    [2, 3],
  );
});

test('a member a moderator removes is closed out of the live channel at once, with the hosted text', async () => {
  await team('roles-kick');
  const mary = await watcher('mary', 'roles-kick');
  try {
    assert.deepEqual(await rest('mona', 'DELETE', '/api/channels/roles-kick/members/mary'), { status: 204 });
    const system = await mary.expect((frame) => frame[3] === 'system', 'the system message');
    assert.equal((system[4] as { message?: string }).message, 'You no longer have permission to read from this Channel topic: roles-kick');
    await mary.expect((frame) => frame[3] === 'phx_close', 'the close');
  } finally {
    await mary.close();
  }
});

test("called as the user's role with PostgREST's claims, the SQL functions hold the same rules; the operator's CLI may do all", async () => {
  const channelId = await team('roles-sql');
  for (const text of ['a', 'b', 'c']) await appendMessage(env.db.pool, { channelId, event: 'chat', payload: { text } });
  await env.db.pool.query(`
    DO $$ BEGIN CREATE ROLE authenticated NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    GRANT EXECUTE ON FUNCTION realtime.delete_message(text, bigint), realtime.remove_member(text, text), realtime.set_member_role(text, text, text) TO authenticated`);
  const asUser = async (user: string, statement: string) => {
    const client = await env.db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)", [JSON.stringify({ sub: user, role: 'authenticated' })]);
      await client.query(statement);
      await client.query('COMMIT');
      return 'ok';
    } catch (error) {
      await client.query('ROLLBACK');
      return (error as Error).message;
    } finally {
      client.release();
    }
  };
  assert.equal(
    await asUser('mike', "SELECT realtime.delete_message('roles-sql', 1)"),
    'only a moderator or an admin of channel "roles-sql" may delete its messages; the caller is a member',
  );
  assert.equal(await asUser('mona', "SELECT realtime.delete_message('roles-sql', 1)"), 'ok');
  assert.equal(
    await asUser('mona', "SELECT realtime.set_member_role('roles-sql', 'mike', 'admin')"),
    'only an admin of channel "roles-sql" may add members or change roles; the caller is a moderator',
  );
  assert.equal(await asUser('adam', "SELECT realtime.set_member_role('roles-sql', 'mike', 'admin')"), 'ok');
  assert.equal(
    await asUser('stranger', "SELECT realtime.remove_member('roles-sql', 'mary')"),
    'only an admin of channel "roles-sql" may remove its members (a moderator may remove members); the caller is not a member',
  );
  // A role without the grant cannot call them at all.
  await env.db.pool.query('DO $$ BEGIN CREATE ROLE roles_sql_other NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$');
  const other = await env.db.pool.connect();
  try {
    await other.query('BEGIN');
    await other.query("SELECT set_config('role', 'roles_sql_other', true), set_config('request.jwt.claim.sub', 'adam', true)");
    await assert.rejects(other.query("SELECT realtime.delete_message('roles-sql', 2)"), /permission denied for function delete_message/);
  } finally {
    await other.query('ROLLBACK');
    other.release();
  }

  const cli = await realtime(['message', 'delete', 'roles-sql', '2'], { databaseUrl: env.db.url });
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(cli.stdout, 'Deleted the message at offset 2 of channel "roles-sql".\n');
  const missing = await realtime(['message', 'delete', 'roles-sql', '2'], { databaseUrl: env.db.url });
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'error: channel "roles-sql" has no message at offset 2\n');
  const { rows } = await env.db.pool.query('SELECT channel_offset FROM realtime.messages WHERE channel_id = $1 ORDER BY 1', [channelId]);
  assert.deepEqual(
    rows.map((row) => Number(row.channel_offset)),
    [3],
  );
});

test("only an admin changes a channel's type and settings or deletes it; a deleted channel closes its live members", async () => {
  await team('roles-admin');
  const path = '/api/channels/roles-admin';
  assert.deepEqual(await rest('mona', 'PATCH', path, { metadata: { max_members: 10 } }), {
    status: 403,
    error: 'only an admin of channel "roles-admin" may change its type or settings; the caller is a moderator',
  });
  assert.deepEqual(await rest('adam', 'PATCH', path, { metadata: { max_members: 0 } }), {
    status: 422,
    error: 'channel metadata "max_members" is 0; it must be a whole number of members, 1 or more',
  });
  assert.deepEqual(await rest('adam', 'PATCH', path, { type: 'secret' }), { status: 422, error: 'channel type is "secret"; it must be public, private or presence' });
  assert.deepEqual(await rest('adam', 'PATCH', path, { metadata: { max_members: 4, retention_hours: 72, topic: 'standup' } }), { status: 204 });
  const { rows } = await env.db.pool.query("SELECT type, metadata FROM realtime.channels WHERE slug = 'roles-admin'");
  assert.deepEqual(rows, [{ type: 'private', metadata: { max_members: 4, retention_hours: 72, topic: 'standup' } }]);
  assert.deepEqual(await rest('adam', 'PUT', `${path}/members/nina`), {
    status: 409,
    error: `channel "roles-admin" is full: it has 4 members and its max_members is 4; remove a member (nself realtime channel leave) or raise max_members in the channel's metadata`,
  });

  const mike = await watcher('mike', 'roles-admin');
  try {
    assert.deepEqual(await rest('mike', 'DELETE', path), { status: 403, error: 'only an admin of channel "roles-admin" may delete it; the caller is a member' });
    assert.deepEqual(await rest('adam', 'DELETE', path), { status: 204 });
    const system = await mike.expect((frame) => frame[3] === 'system', 'the system message');
    assert.equal((system[4] as { message?: string }).message, 'Channel was deleted: roles-admin');
    assert.deepEqual(await rest('adam', 'DELETE', path), { status: 404, error: 'no channel "roles-admin"; give its name, slug or id' });
  } finally {
    await mike.close();
  }
});
