// Conformance: presence as hosted Supabase gives it to supabase-js 2.39, 2.45 and the latest (keys, metas, joins and leaves).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { createClient as createLatest } from '@supabase/supabase-js';
import { createClient as create239 } from 'supabase-js-2.39';
import { createClient as create245 } from 'supabase-js-2.45';
import { RawClient } from './raw-client.js';
import { useTestServer } from '../helpers/server.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const env = useTestServer({ jwtSecret: JWT_SECRET });

/** The parts of a supabase-js client and channel these tests use, alike in every version. */
interface Channel {
  on(type: 'presence', filter: { event: 'sync' | 'join' | 'leave' }, callback: (payload: { key?: string }) => void): Channel;
  subscribe(callback: (status: string) => void): Channel;
  track(payload: Record<string, unknown>): Promise<string>;
  untrack(): Promise<string>;
  presenceState(): Record<string, Array<Record<string, unknown>>>;
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
  ['2.39.8', create239 as unknown as Factory],
  ['2.45.6', create245 as unknown as Factory],
  ['latest', createLatest as unknown as Factory],
];
/* eslint-enable @typescript-eslint/no-unnecessary-type-assertion */

for (const [version, create] of VERSIONS) {
  const tag = version.replace(/\./g, '');
  /** A client of this version signed in as `user` (a token with that `sub`). */
  async function signedIn(user: string): Promise<Client> {
    const client = create(`http://127.0.0.1:${env.server.port}`, await token(undefined, { role: 'anon' }), {
      // Before realtime-js 2.11 a given transport was never wired up; those versions bring their own `ws`.
      realtime: { ...(version === 'latest' ? { transport: WebSocket } : {}), timeout: 5_000, heartbeatIntervalMs: 5_000, reconnectAfterMs: () => 200 },
    }) as Client;
    client.realtime.setAuth(await token(user));
    return client;
  }
  function subscribed(channel: Channel): Promise<void> {
    return new Promise((resolve, reject) => {
      channel.subscribe((status) => (status === 'SUBSCRIBED' ? resolve() : status !== 'CLOSED' && reject(new Error(`subscribe: ${status}`))));
    });
  }
  /** What the app sees: each key's metas without the `presence_ref` the client adds. */
  function shown(channel: Channel): Record<string, Array<Record<string, unknown>>> {
    return Object.fromEntries(Object.entries(channel.presenceState()).map(([key, metas]) => [key, metas.map(({ presence_ref: _ref, ...meta }) => meta)]));
  }

  test(`supabase-js ${version}: without a key every join has its own key, even two tabs of one user, and metas hold only what was tracked`, async () => {
    const tab1 = await signedIn('user-1');
    const tab2 = await signedIn('user-1');
    const watcher = await signedIn('user-2');
    const topic = `no-key-${tag}`;
    try {
      const seen = watcher.channel(topic);
      let syncs = 0;
      seen.on('presence', { event: 'sync' }, () => {
        syncs++;
      });
      await subscribed(seen);
      await waitFor(() => syncs > 0, "the watcher's first sync");
      for (const [client, page] of [
        [tab1, 'home'],
        [tab2, 'settings'],
      ] as const) {
        const channel = client.channel(topic);
        await subscribed(channel);
        assert.equal(await channel.track({ page }), 'ok');
      }
      await waitFor(() => Object.keys(seen.presenceState()).length === 2, 'two keys, one per tab');
      const state = shown(seen);
      assert.deepEqual(
        Object.values(state)
          .map((metas) => metas.map((meta) => meta['page']))
          .flat()
          .sort(),
        ['home', 'settings'],
      );
      for (const [key, metas] of Object.entries(state)) {
        assert.notEqual(key, 'user-1', 'a join without a key does not take the user id as key');
        assert.equal(metas.length, 1);
        assert.deepEqual(Object.keys(metas[0] ?? {}), ['page'], 'a meta holds what was tracked and nothing else');
      }
    } finally {
      await Promise.all([tab1, tab2, watcher].map((client) => client.removeAllChannels()));
    }
  });

  test(`supabase-js ${version}: the same key from two sockets is one key with two metas; when one leaves, its meta leaves`, async () => {
    const tab1 = await signedIn('user-3');
    const tab2 = await signedIn('user-3');
    const topic = `same-key-${tag}`;
    // A raw observer applies diffs by Phoenix's rules (the latest supabase-js loses refs of keys with several metas).
    const observer = await RawClient.open(env.server, `vsn=2.0.0&apikey=${await token('observer')}`);
    const seen = () => observer.presence(`realtime:${topic}`);
    try {
      await observer.join(`realtime:${topic}`, '1', { presence: { key: 'observer', enabled: true } });
      const channels: Channel[] = [];
      for (const [client, page] of [
        [tab1, 'home'],
        [tab2, 'settings'],
      ] as const) {
        const channel = client.channel(topic, { config: { presence: { key: 'carol' } } });
        await subscribed(channel);
        assert.equal(await channel.track({ page }), 'ok');
        channels.push(channel);
      }
      await waitFor(() => seen()['carol']?.length === 2, 'both metas under carol');
      assert.deepEqual(seen(), { carol: [{ page: 'home' }, { page: 'settings' }] });
      assert.equal(await channels[0]?.untrack(), 'ok');
      await waitFor(() => seen()['carol']?.length === 1, 'the untracked meta leaving');
      assert.deepEqual(seen(), { carol: [{ page: 'settings' }] });
      await tab2.removeAllChannels();
      await waitFor(() => seen()['carol'] === undefined, "the second socket's meta leaving when it leaves");
      assert.deepEqual(seen(), {});
    } finally {
      await observer.close();
      await Promise.all([tab1, tab2].map((client) => client.removeAllChannels()));
    }
  });

  test(`supabase-js ${version}: a late joiner receives who is present, and a tracker that listens to no presence is still seen`, async () => {
    const early = await signedIn('early');
    const late = await signedIn('late');
    const topic = `late-${tag}`;
    try {
      // No presence listener: the latest client sends presence.enabled = false, older ones send no flag.
      const quiet = early.channel(topic, { config: { presence: { key: 'early' } } });
      await subscribed(quiet);
      assert.equal(await quiet.track({ mood: 'calm' }), 'ok');
      const channel = late.channel(topic, { config: { presence: { key: 'late' } } });
      const joined: string[] = [];
      channel.on('presence', { event: 'join' }, ({ key }) => {
        if (key) joined.push(key);
      });
      await subscribed(channel);
      await waitFor(() => shown(channel)['early'], "the early tracker in the late joiner's state");
      assert.deepEqual(shown(channel), { early: [{ mood: 'calm' }] });
      assert.equal(await channel.track({ mood: 'curious' }), 'ok');
      await waitFor(() => joined.includes('late'), 'the late joiner seeing its own join');
      assert.deepEqual(shown(channel), { early: [{ mood: 'calm' }], late: [{ mood: 'curious' }] });
    } finally {
      await Promise.all([early, late].map((client) => client.removeAllChannels()));
    }
  });
}
