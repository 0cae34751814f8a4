// What any database login can LISTEN to: positions only, never rows of tables it may not read nor messages of private channels.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import pg from 'pg';
import { addMember, createChannel } from '@nself/db';
import { adminUrl } from '../helpers/database.js';
import { realtime } from '../helpers/cli.js';
import { watchChanges } from './postgres-changes-support.js';
import { subscribe, supabase } from './support.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { useTestServer } from '../helpers/server.js';

const spy = `rt_spy_${randomBytes(4).toString('hex')}`;
const password = randomBytes(12).toString('hex');
const env = useTestServer({ jwtSecret: JWT_SECRET }, async (db) => {
  await db.pool.query(`CREATE ROLE ${spy} LOGIN PASSWORD '${password}'`);
  await db.pool.query('CREATE TABLE public.payroll (id int PRIMARY KEY, name text NOT NULL, salary int NOT NULL)');
  await db.pool.query('ALTER TABLE public.payroll REPLICA IDENTITY FULL');
  await db.pool.query('CREATE TABLE public.directory (id int PRIMARY KEY, name text NOT NULL)');
  const vault = await createChannel(db.pool, { name: 'vault', type: 'private' });
  await addMember(db.pool, { channelId: vault.id, userId: 'member-1' });
});

after(async () => {
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${spy}`).finally(() => admin.end());
});

/** A connection of the low-privilege login, LISTENing on `channels` and recording what arrives. */
async function listenAsSpy(channels: readonly string[]): Promise<{ client: pg.Client; notes: Array<{ channel: string; payload: string }> }> {
  const url = new URL(env.db.url);
  url.username = spy;
  url.password = password;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  const notes: Array<{ channel: string; payload: string }> = [];
  client.on('notification', (note) => notes.push({ channel: note.channel, payload: note.payload ?? '' }));
  for (const channel of channels) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
  return { client, notes };
}

test('a database login without SELECT hears no row of a table the server captures, and no private message, while subscribers get both', async () => {
  const service = supabase(env.server, { key: await token(undefined, { role: 'service_role' }) });
  const member = supabase(env.server, { key: await token(undefined, { role: 'anon' }), accessToken: await token('member-1') });
  const { client: spyClient, notes } = await listenAsSpy(['realtime:table:public.payroll', 'realtime:changes', 'realtime:broadcast']);
  try {
    await assert.rejects(spyClient.query('SELECT * FROM public.payroll'), { code: '42501' }, 'the login may not read the table');

    // The server captures public.payroll for this join (it was not subscribed before).
    const watched = await watchChanges(service, 'payroll-watch', [{ event: '*', schema: 'public', table: 'payroll' }]);
    assert.equal(watched.system[0]?.message, 'Subscribed to PostgreSQL');
    await member.realtime.setAuth();
    const received: unknown[] = [];
    const vault = member
      .channel('vault', { config: { private: true, broadcast: { self: true, ack: true } } })
      .on('broadcast', { event: '*' }, (message) => received.push(message.payload));
    assert.equal((await subscribe(vault)).status, 'SUBSCRIBED');

    await env.db.pool.query("INSERT INTO public.payroll VALUES (1, 'secret-name-xyz', 987654)");
    await env.db.pool.query('UPDATE public.payroll SET salary = 876543 WHERE id = 1');
    await env.db.pool.query('DELETE FROM public.payroll WHERE id = 1');
    assert.equal(await vault.send({ type: 'broadcast', event: 'memo-ws', payload: { secret: 'vault-ws-secret-123' } }), 'ok');
    await env.db.pool.query(`SELECT realtime.broadcast('vault', 'memo-sql', '{"secret": "vault-sql-secret-456"}', 'member-1')`);

    await waitFor(() => watched.changes.length === 3, 'the three changes at the subscriber');
    assert.deepEqual(
      watched.changes.map((change) => change.eventType),
      ['INSERT', 'UPDATE', 'DELETE'],
    );
    assert.equal((watched.changes[1]?.new as { salary?: number }).salary, 876543, 'the subscriber gets the rows, read from the log');
    await waitFor(() => received.length === 2, 'both private broadcasts at the member');
    assert.deepEqual(
      received.map((payload) => (payload as { secret: string }).secret),
      ['vault-ws-secret-123', 'vault-sql-secret-456'],
    );
    // The broadcast log is readable by any role only under row-level security, where no policy shows this login a row.
    assert.deepEqual((await spyClient.query('SELECT * FROM realtime.messages')).rows, [], 'nor the broadcast log');

    // On the WAL path the server's capture has no trigger, so the table's channel stays silent.
    const walPath = (await env.db.pool.query<{ wal: boolean }>('SELECT realtime.wal_capture_active() AS wal')).rows[0]?.wal === true;
    await waitFor(
      () =>
        notes.filter((note) => note.channel === 'realtime:broadcast').length >= 2 &&
        notes.filter((note) => note.channel === 'realtime:table:public.payroll').length >= (walPath ? 0 : 3),
      'the notifications at the login',
    );
    await sleep(300);
    for (const secret of ['secret-name-xyz', '987654', '876543', 'vault-ws-secret-123', 'vault-sql-secret-456', 'memo-ws', 'memo-sql', 'member-1']) {
      assert.deepEqual(
        notes.filter((note) => note.payload.includes(secret)),
        [],
        `no notification carries "${secret}"`,
      );
    }
    for (const note of notes.filter((n) => n.channel === 'realtime:broadcast')) {
      assert.deepEqual(Object.keys(JSON.parse(note.payload)).sort(), ['channel_id', 'id', 'key', 'mac', 'offset']);
    }
    await assert.rejects(spyClient.query('SELECT secret FROM realtime.broadcast_note_keys'), { code: '42501' }, 'nor the key that signs public channels’ notes');
    for (const note of notes.filter((n) => n.channel === 'realtime:table:public.payroll')) {
      const pointer = JSON.parse(note.payload) as Record<string, unknown>;
      assert.ok(!('new' in pointer) && !('old' in pointer), 'a captured table says where the change is, not what it is');
      assert.equal(typeof pointer['change_id'], 'number');
    }
    for (const note of notes.filter((n) => n.channel === 'realtime:changes')) {
      assert.ok(!('changes' in JSON.parse(note.payload)), 'announcements carry positions only');
    }
  } finally {
    await spyClient.end();
    await service.removeAllChannels();
    await member.removeAllChannels();
  }
});

test('presence and access notifications carry ids, never the name of a private channel', async () => {
  const hidden = await createChannel(env.db.pool, { name: 'hidden-room-xyz', type: 'private' });
  for (const userId of ['member-2', 'member-3']) await addMember(env.db.pool, { channelId: hidden.id, userId });
  const member = supabase(env.server, { key: await token(undefined, { role: 'anon' }), accessToken: await token('member-2') });
  const { client: spyClient, notes } = await listenAsSpy(['realtime:presence', 'realtime:access']);
  try {
    await member.realtime.setAuth();
    const room = member.channel('hidden-room-xyz', { config: { private: true, presence: { key: 'member-2', enabled: true } } });
    assert.equal((await subscribe(room)).status, 'SUBSCRIBED');
    assert.equal(await room.track({ mood: 'quiet' }), 'ok');
    const tracked = await realtime(['presence', 'track', 'member-3', 'hidden-room-xyz', 'away'], { databaseUrl: env.db.url });
    assert.equal(tracked.code, 0, tracked.stderr);
    await env.db.pool.query(`DELETE FROM realtime.presence WHERE channel_id = $1 AND user_id = 'member-3'`, [hidden.id]);
    await env.db.pool.query(`DELETE FROM realtime.channel_members WHERE channel_id = $1 AND user_id = 'member-3'`, [hidden.id]);

    const stored = () => notes.filter((note) => note.channel === 'realtime:presence' && !('connection_id' in JSON.parse(note.payload)));
    await waitFor(() => stored().length >= 3 && notes.some((note) => note.channel === 'realtime:access'), 'the presence and access notifications at the login');
    await sleep(200);
    assert.deepEqual(
      notes.filter((note) => note.payload.includes('hidden-room-xyz')),
      [],
      'no notification names the private channel',
    );
    for (const note of stored()) {
      assert.deepEqual(Object.keys(JSON.parse(note.payload)).sort(), ['channel_id', 'operation', 'user_id'], `a stored presence's notification: ${note.payload}`);
    }
    const changes = stored().map((note) => {
      const { user_id, operation } = JSON.parse(note.payload) as Record<string, string>;
      return `${user_id} ${operation}`;
    });
    for (const change of ['member-2 INSERT', 'member-3 INSERT', 'member-3 DELETE']) assert.ok(changes.includes(change), `${change} among ${changes.join(', ')}`);
  } finally {
    await spyClient.end();
    await member.removeAllChannels();
  }
});

test('a table an operator subscribed with the CLI keeps the seed payload with its rows, which any login may LISTEN to', async () => {
  const subscribed = await realtime(['subscribe', 'public.directory'], { databaseUrl: env.db.url });
  assert.equal(subscribed.code, 0, subscribed.stderr);
  const { client: spyClient, notes } = await listenAsSpy(['realtime:table:public.directory']);
  try {
    await env.db.pool.query("INSERT INTO public.directory VALUES (7, 'listed-name')");
    await waitFor(() => notes.length === 1, 'the seed notification');
    const note = JSON.parse(notes[0]?.payload ?? '{}') as { operation: string; new: { name: string } };
    assert.equal(note.operation, 'INSERT');
    assert.equal(note.new.name, 'listed-name');
  } finally {
    await spyClient.end();
  }
});
