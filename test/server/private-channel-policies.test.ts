// Conformance: private channels authorised as on Supabase, by row-level security policies on realtime.messages
// written as Supabase's documentation shows them, with unmodified supabase-js 2.45 and the latest.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import WebSocket from 'ws';
import { createClient as createLatest } from '@supabase/supabase-js';
import { createClient as create245 } from 'supabase-js-2.45';
import { useTestServer } from '../helpers/server.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { sleep, waitFor } from '../helpers/wait.js';

/** Users by the uuid their tokens carry as `sub` (auth.uid() in the policies). */
const ANN = randomUUID();
const BEN = randomUUID();
/** In the room, but allowed only to receive broadcasts: no presence, no sending. */
const VIC = randomUUID();
/** In no room. */
const MAL = randomUUID();

const env = useTestServer({ jwtSecret: JWT_SECRET }, async (db) => {
  await db.pool.query(`
    DO $$ BEGIN CREATE ROLE authenticated NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    GRANT USAGE ON SCHEMA public TO authenticated;
    CREATE TABLE public.room_members (user_id uuid NOT NULL, topic text NOT NULL, can_write boolean NOT NULL DEFAULT true);
    GRANT SELECT ON public.room_members TO authenticated;
    CREATE POLICY "room members receive" ON realtime.messages FOR SELECT TO authenticated USING (
      EXISTS (SELECT 1 FROM public.room_members m
               WHERE m.user_id = (SELECT auth.uid()) AND m.topic = (SELECT realtime.topic())
                 AND (realtime.messages.extension = 'broadcast' OR m.can_write)));
    CREATE POLICY "room writers send and track" ON realtime.messages FOR INSERT TO authenticated WITH CHECK (
      EXISTS (SELECT 1 FROM public.room_members m
               WHERE m.user_id = (SELECT auth.uid()) AND m.topic = (SELECT realtime.topic()) AND m.can_write
                 AND realtime.messages.extension IN ('broadcast', 'presence')));
  `);
});

/** The parts of a supabase-js client and channel these tests use, alike in both versions. */
interface Channel {
  on(type: 'broadcast', filter: { event: string }, callback: (message: { event: string; payload: Record<string, unknown> }) => void): Channel;
  on(type: 'presence', filter: { event: 'sync' }, callback: () => void): Channel;
  subscribe(callback: (status: string, error?: Error) => void): Channel;
  send(message: { type: 'broadcast'; event: string; payload: Record<string, unknown> }): Promise<string>;
  track(payload: Record<string, unknown>): Promise<string>;
  presenceState(): Record<string, unknown[]>;
}
interface Client {
  channel(topic: string, options?: { config?: Record<string, unknown> }): Channel;
  removeAllChannels(): Promise<unknown>;
  realtime: { setAuth(token: string): unknown };
}
type Factory = (url: string, key: string, options: Record<string, unknown>) => unknown;

// The casts look unneeded to ESLint, but without them tsc gives up comparing the clients' types with Factory (TS2589).
/* eslint-disable @typescript-eslint/no-unnecessary-type-assertion */
const VERSIONS: ReadonlyArray<[string, Factory]> = [
  ['2.45.6', create245 as unknown as Factory],
  ['latest', createLatest as unknown as Factory],
];
/* eslint-enable @typescript-eslint/no-unnecessary-type-assertion */

/** Lets `user` into `topic` in the application's own table, which the policies read. */
async function admit(user: string, topic: string, canWrite = true): Promise<void> {
  await env.db.pool.query('INSERT INTO public.room_members (user_id, topic, can_write) VALUES ($1, $2, $3)', [user, topic, canWrite]);
}

for (const [version, create] of VERSIONS) {
  /** A client of this version signed in as `user`, with `role` in its token. */
  async function signedIn(user: string, role = 'authenticated'): Promise<Client> {
    const client = create(`http://127.0.0.1:${env.server.port}`, await token(undefined, { role: 'anon' }), {
      realtime: { ...(version === 'latest' ? { transport: WebSocket } : {}), timeout: 5_000, heartbeatIntervalMs: 5_000, reconnectAfterMs: () => 200 },
    }) as Client;
    client.realtime.setAuth(await token(user, { role }));
    return client;
  }
  /** Joins `topic` as a private channel with presence, recording broadcasts; `outcome` is that of the join. */
  function join(client: Client, topic: string) {
    const received: Array<{ event: string; payload: Record<string, unknown> }> = [];
    const channel = client.channel(topic, { config: { private: true, broadcast: { ack: true } } });
    channel.on('broadcast', { event: '*' }, (message) => {
      received.push(message);
    });
    // A presence listener turns presence on for the latest client (which asks for it only then).
    channel.on('presence', { event: 'sync' }, () => undefined);
    const outcome = new Promise<{ status: string; error?: Error }>((resolve) => {
      channel.subscribe((status, error) => resolve({ status, ...(error ? { error } : {}) }));
    });
    return { channel, received, outcome };
  }

  test(`supabase-js ${version}: a topic the policies admit needs no CLI step; members by policy send and receive, anyone else is refused with the hosted text`, async () => {
    const topic = `room:${randomUUID().slice(0, 8)}`;
    await admit(ANN, topic);
    await admit(BEN, topic);
    const [ann, ben, mal, ghost] = await Promise.all([signedIn(ANN), signedIn(BEN), signedIn(MAL), signedIn(ANN, 'no_such_role')]);
    try {
      const annJoin = join(ann, topic);
      assert.equal((await annJoin.outcome).status, 'SUBSCRIBED');
      const benJoin = join(ben, topic);
      assert.equal((await benJoin.outcome).status, 'SUBSCRIBED');
      const { rows: channels } = await env.db.pool.query('SELECT type FROM realtime.channels WHERE slug = $1', [topic]);
      assert.deepEqual(channels, [{ type: 'private' }], 'the first admitted join made the topic a private channel');

      assert.equal(await annJoin.channel.send({ type: 'broadcast', event: 'chat', payload: { text: 'hello ben' } }), 'ok');
      await waitFor(() => benJoin.received.length === 1, "ben receives ann's broadcast");
      assert.deepEqual(benJoin.received[0]?.payload, { text: 'hello ben' });

      for (const [who, client] of [
        ['a user the policies do not admit', mal],
        ['a token whose role does not exist', ghost],
      ] as const) {
        const refused = await join(client, topic).outcome;
        assert.equal(refused.status, 'CHANNEL_ERROR', who);
        assert.match(refused.error?.message ?? '', new RegExp(`Unauthorized: You do not have permissions to read from this Channel topic: ${topic}`), who);
      }
      const refusedNew = await join(mal, `${topic}:new`).outcome;
      assert.equal(refusedNew.status, 'CHANNEL_ERROR', 'a refused join of a new private topic');
      const { rows: made } = await env.db.pool.query('SELECT 1 FROM realtime.channels WHERE slug = $1', [`${topic}:new`]);
      assert.equal(made.length, 0, 'a refused join makes no channel');
      const { rows: probes } = await env.db.pool.query('SELECT count(*)::int AS n FROM realtime.messages WHERE topic IS NOT NULL');
      assert.deepEqual(probes, [{ n: 0 }], 'the probes stored nothing');
    } finally {
      await Promise.all([ann, ben, mal, ghost].map((client) => client.removeAllChannels()));
    }
  });

  test(`supabase-js ${version}: presence and sends follow the policies per extension: a reader of broadcasts only sees no presence, and cannot track or send`, async () => {
    const topic = `room:${randomUUID().slice(0, 8)}`;
    await admit(ANN, topic);
    await admit(VIC, topic, false);
    const [ann, vic] = await Promise.all([signedIn(ANN), signedIn(VIC)]);
    try {
      const annJoin = join(ann, topic);
      assert.equal((await annJoin.outcome).status, 'SUBSCRIBED');
      const vicJoin = join(vic, topic);
      assert.equal((await vicJoin.outcome).status, 'SUBSCRIBED', 'reading broadcasts is enough to join');

      assert.equal(await annJoin.channel.track({ mood: 'happy' }), 'ok');
      await waitFor(() => Object.keys(annJoin.channel.presenceState()).length === 1, 'ann sees her own presence');
      assert.notEqual(await vicJoin.channel.track({ mood: 'curious' }), 'ok', 'the policies do not let vic track');
      assert.notEqual(await vicJoin.channel.send({ type: 'broadcast', event: 'chat', payload: { text: 'from vic' } }), 'ok', 'nor send');

      assert.equal(await annJoin.channel.send({ type: 'broadcast', event: 'chat', payload: { text: 'for everyone' } }), 'ok');
      await waitFor(() => vicJoin.received.length === 1, "vic receives ann's broadcast");
      await sleep(300);
      assert.deepEqual(
        vicJoin.received.map((message) => message.payload['text']),
        ['for everyone'],
      );
      assert.deepEqual(vicJoin.channel.presenceState(), {}, 'vic receives no presence');
      assert.equal(Object.keys(annJoin.channel.presenceState()).length, 1, 'vic tracked nothing');
      assert.equal(annJoin.received.length, 0, "vic's broadcast was dropped");
    } finally {
      await Promise.all([ann, vic].map((client) => client.removeAllChannels()));
    }
  });
}

test("the service role sends over REST to a topic authorised by policies, bypassing them as on Supabase; a stranger's send is dropped", async () => {
  const topic = `room:${randomUUID().slice(0, 8)}`;
  await admit(ANN, topic);
  const client = createLatest(`http://127.0.0.1:${env.server.port}`, await token(undefined, { role: 'anon' }), {
    realtime: { transport: WebSocket as never, timeout: 5_000, heartbeatIntervalMs: 5_000 },
  });
  await client.realtime.setAuth(await token(ANN));
  const received: unknown[] = [];
  const channel = client.channel(topic, { config: { private: true } });
  channel.on('broadcast', { event: 'news' }, (message) => {
    received.push(message['payload']);
  });
  const send = async (bearer: string, text: string) =>
    fetch(`${env.server.url}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: bearer, authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ messages: [{ topic, event: 'news', payload: { text }, private: true }] }),
    });
  try {
    await new Promise<void>((resolve, reject) => channel.subscribe((status) => (status === 'SUBSCRIBED' ? resolve() : reject(new Error(status)))));
    assert.equal((await send(await token(undefined, { role: 'service_role' }), 'from the service role')).status, 202);
    assert.equal((await send(await token(MAL), 'from a stranger')).status, 202);
    assert.equal((await send(await token(ANN), 'from ann over REST')).status, 202);
    await waitFor(() => received.length === 2, "the service role's and ann's broadcasts");
    await sleep(300);
    assert.deepEqual(received, [{ text: 'from the service role' }, { text: 'from ann over REST' }]);
  } finally {
    await client.removeAllChannels();
  }
});

test('a token refresh asks the policies again: still admitted goes on, no longer admitted is closed with the hosted text', async () => {
  const topic = `room:${randomUUID().slice(0, 8)}`;
  await admit(ANN, topic);
  const client = createLatest(`http://127.0.0.1:${env.server.port}`, await token(undefined, { role: 'anon' }), {
    realtime: { transport: WebSocket as never, timeout: 5_000, heartbeatIntervalMs: 5_000 },
  });
  await client.realtime.setAuth(await token(ANN));
  const received: unknown[] = [];
  const system: string[] = [];
  const statuses: string[] = [];
  const channel = client.channel(topic, { config: { private: true } });
  channel.on('broadcast', { event: 'news' }, (message) => {
    received.push(message['payload']);
  });
  channel.on('system', {}, (message: { message?: string }) => {
    system.push(message.message ?? '');
  });
  const sendAsService = async (text: string) =>
    fetch(`${env.server.url}/api/broadcast`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(undefined, { role: 'service_role' })}` },
      body: JSON.stringify({ messages: [{ topic, event: 'news', payload: { text }, private: true }] }),
    });
  try {
    await new Promise<void>((resolve) =>
      channel.subscribe((status) => {
        statuses.push(status);
        if (status === 'SUBSCRIBED') resolve();
      }),
    );
    await client.realtime.setAuth(await token(ANN, { expiresInSeconds: 7200 }));
    await sleep(300);
    assert.equal((await sendAsService('after the first refresh')).status, 202);
    await waitFor(() => received.length === 1, 'a broadcast after a refresh the policies still admit');

    await env.db.pool.query('DELETE FROM public.room_members WHERE user_id = $1 AND topic = $2', [ANN, topic]);
    await client.realtime.setAuth(await token(ANN, { expiresInSeconds: 5400 }));
    await waitFor(() => statuses.includes('CLOSED'), 'the channel closed after a refresh the policies no longer admit');
    assert.ok(system.includes(`You no longer have permission to read from this Channel topic: ${topic}`), JSON.stringify(system));
  } finally {
    await client.removeAllChannels();
  }
});
