// Conformance: Supabase's Broadcast from Database, realtime.send and realtime.broadcast_changes, reaching supabase-js subscribers.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import pg from 'pg';
import { addMember, createChannel } from '@nself/db';
import { subscribe, supabase } from './support.js';
import { adminUrl } from '../helpers/database.js';
import { useTestServer } from '../helpers/server.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const env = useTestServer({ jwtSecret: JWT_SECRET }, async (db) => {
  await db.pool.query(`
    CREATE TABLE todos (id serial PRIMARY KEY, list text NOT NULL, title text NOT NULL);
    -- The trigger Supabase's documentation gives for Broadcast from Database.
    CREATE FUNCTION public.todos_changes() RETURNS trigger SECURITY DEFINER LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM realtime.broadcast_changes('todos:' || coalesce(NEW.list, OLD.list), TG_OP, TG_OP, TG_TABLE_NAME, TG_TABLE_SCHEMA, NEW, OLD);
      RETURN NULL;
    END $$;
    CREATE TRIGGER todos_changes AFTER INSERT OR UPDATE OR DELETE ON todos FOR EACH ROW EXECUTE FUNCTION public.todos_changes();
  `);
  const channel = await createChannel(db.pool, { name: 'todos:home', type: 'private' });
  await addMember(db.pool, { channelId: channel.id, userId: 'ann' });
});

/** An application role that is not the schema's owner, as `authenticated` is on Supabase. */
const appRole = `rt_app_${randomBytes(4).toString('hex')}`;

after(async () => {
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`DROP OWNED BY ${appRole}`).catch(() => undefined);
  await admin.query(`DROP ROLE IF EXISTS ${appRole}`).finally(() => admin.end());
});

type Received = { event: string; payload: Record<string, unknown>; meta?: { id?: string } };

/** A supabase-js client signed in as `user`, joined to `topic` (private or not), recording every broadcast. */
async function listen(user: string, topic: string, isPrivate: boolean) {
  const accessToken = await token(user);
  const client = supabase(env.server, { key: accessToken, accessToken });
  const received: Received[] = [];
  const channel = client.channel(topic, { config: { private: isPrivate } });
  channel.on('broadcast', { event: '*' }, (message) => {
    received.push(message as unknown as Received);
  });
  const joined = await subscribe(channel);
  return { client, received, joined };
}

test('broadcast_changes from a row trigger reaches a member of the private topic: INSERT, UPDATE and DELETE with records', async () => {
  const { client, received, joined } = await listen('ann', 'todos:home', true);
  try {
    assert.equal(joined.status, 'SUBSCRIBED');
    await env.db.pool.query("INSERT INTO todos (list, title) VALUES ('home', 'water plants')");
    await env.db.pool.query("UPDATE todos SET title = 'water the plants' WHERE list = 'home'");
    await env.db.pool.query("DELETE FROM todos WHERE list = 'home'");
    await waitFor(() => received.length === 3, 'three broadcasts');
    assert.deepEqual(
      received.map((message) => message.event),
      ['INSERT', 'UPDATE', 'DELETE'],
    );
    const [inserted, updated, deleted] = received.map((message) => message.payload);
    assert.deepEqual(
      { ...inserted, id: undefined },
      {
        id: undefined,
        operation: 'INSERT',
        table: 'todos',
        schema: 'public',
        old_record: null,
        record: { id: 1, list: 'home', title: 'water plants' },
      },
    );
    assert.equal(typeof inserted?.['id'], 'string', 'the payload gains the message id, as on Supabase');
    assert.deepEqual(updated?.['old_record'], { id: 1, list: 'home', title: 'water plants' });
    assert.deepEqual(updated?.['record'], { id: 1, list: 'home', title: 'water the plants' });
    assert.deepEqual(deleted?.['record'], null);
    assert.equal(received[0]?.meta?.id, inserted?.['id']);
  } finally {
    await client.removeAllChannels();
  }
});

test('realtime.send reaches a public topic when sent with private => false, and a failure is a warning that keeps the transaction', async () => {
  const { client, received, joined } = await listen('bob', 'lobby', false);
  try {
    assert.equal(joined.status, 'SUBSCRIBED');
    await env.db.pool.query(`SELECT realtime.send('{"text":"hello"}'::jsonb, 'chat', 'lobby', false)`);
    await waitFor(() => received.length === 1, 'the broadcast');
    assert.equal(received[0]?.event, 'chat');
    assert.equal(received[0]?.payload['text'], 'hello');

    // Private by default: not sent to a public channel, and the caller's transaction goes on.
    const db = await env.db.pool.connect();
    try {
      const warnings: string[] = [];
      db.on('notice', (notice) => warnings.push(notice.message ?? ''));
      await db.query('BEGIN');
      await db.query(`SELECT realtime.send('{"text":"secret"}'::jsonb, 'chat', 'lobby')`);
      await db.query("INSERT INTO todos (list, title) VALUES ('work', 'still committed')");
      await db.query('COMMIT');
      assert.match(warnings.join('\n'), /ErrorSendingBroadcastMessage: topic "lobby" is a public channel and the message is private/);
    } finally {
      db.release();
    }
    const { rows } = await env.db.pool.query("SELECT count(*)::int AS n FROM todos WHERE title = 'still committed'");
    assert.equal(rows[0]?.n, 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(received.length, 1, 'the private message did not reach the public channel');
  } finally {
    await client.removeAllChannels();
  }
});

test("the service role sends over REST to a private topic (existing or not), bypassing membership as on Supabase; another user's send is dropped", async () => {
  const { client, received, joined } = await listen('ann', 'todos:home', true);
  const send = async (bearer: string, topic: string, text: string) =>
    fetch(`${env.server.url}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: bearer, authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ messages: [{ topic, event: 'note', payload: { text }, private: true }] }),
    });
  try {
    assert.equal(joined.status, 'SUBSCRIBED');
    const service = await token(undefined, { role: 'service_role' });
    assert.equal((await send(service, 'todos:home', 'from the service role')).status, 202);
    assert.equal((await send(await token('mallory'), 'todos:home', 'from a stranger')).status, 202);
    await waitFor(() => received.some((message) => message.event === 'note'), "the service role's broadcast");
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(
      received.filter((message) => message.event === 'note').map((message) => message.payload['text']),
      ['from the service role'],
    );

    assert.equal((await send(service, 'todos:new-list', 'first')).status, 202);
    const { rows } = await env.db.pool.query("SELECT type FROM realtime.channels WHERE slug = 'todos:new-list'");
    assert.deepEqual(rows, [{ type: 'private' }], "the service role's private send made a private channel");
  } finally {
    await client.removeAllChannels();
  }
});

test("an application's role sends with realtime.send what the policies on realtime.messages let it insert, as on Supabase; without a policy it gets the warning", async () => {
  await env.db.pool.query(`CREATE ROLE ${appRole} NOLOGIN`);
  const { client, received, joined } = await listen('carol', 'app-room', false);
  /** Runs realtime.send as the application's role; returns the warnings it raised. */
  const sendAsApp = async (topic: string, text: string): Promise<string[]> => {
    const db = await env.db.pool.connect();
    const warnings: string[] = [];
    const onNotice = (notice: { message?: string }) => warnings.push(notice.message ?? '');
    db.on('notice', onNotice);
    try {
      await db.query('BEGIN');
      await db.query(`SET LOCAL ROLE ${appRole}`);
      await db.query('SELECT realtime.send($1::jsonb, $2, $3, false)', [JSON.stringify({ text }), 'chat', topic]);
      await db.query('COMMIT');
    } finally {
      db.off('notice', onNotice);
      db.release();
    }
    return warnings;
  };
  try {
    assert.equal(joined.status, 'SUBSCRIBED');
    assert.match((await sendAsApp('app-room', 'no policy yet')).join('\n'), /ErrorSendingBroadcastMessage: new row violates row-level security policy/);
    await env.db.pool.query(
      `CREATE POLICY app_sends_to_app_room ON realtime.messages FOR INSERT TO ${appRole} WITH CHECK (realtime.topic() = 'app-room' AND extension = 'broadcast')`,
    );
    assert.deepEqual(await sendAsApp('app-room', 'allowed'), []);
    assert.match((await sendAsApp('other-room', 'not allowed')).join('\n'), /row-level security/);
    await waitFor(() => received.length === 1, 'the allowed broadcast');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(
      received.map((message) => message.payload['text']),
      ['allowed'],
    );
    const { rows } = await env.db.pool.query<{ slug: string }>("SELECT slug FROM realtime.channels WHERE slug IN ('app-room', 'other-room')");
    assert.deepEqual(
      rows.map((row) => row.slug),
      ['app-room'],
      'a refused send makes no channel',
    );
  } finally {
    await env.db.pool.query('DROP POLICY IF EXISTS app_sends_to_app_room ON realtime.messages');
    await client.removeAllChannels();
  }
});
