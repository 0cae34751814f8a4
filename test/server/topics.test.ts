// Conformance: topics are exact strings, as on Supabase: topics differing only in case or punctuation never share messages or presence.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { subscribe, supabase } from './support.js';
import { useTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const env = useTestServer();

test('Room/ABC, room/abc and roomabc are three channels: broadcasts and presence stay in their own', async () => {
  const topics = ['Room/ABC', 'room/abc', 'roomabc', 'room abc'];
  const clients = topics.map(() => supabase(env.server));
  try {
    const seen = topics.map(() => ({ messages: [] as unknown[], keys: new Set<string>() }));
    const channels = await Promise.all(
      topics.map(async (topic, index) => {
        const channel = clients[index]!.channel(topic, { config: { broadcast: { self: true, ack: true }, presence: { key: `in-${index}` } } });
        channel.on('broadcast', { event: 'hello' }, ({ payload }) => {
          seen[index]!.messages.push(payload);
        });
        channel.on('presence', { event: 'sync' }, () => {
          for (const key of Object.keys(channel.presenceState())) seen[index]!.keys.add(key);
        });
        assert.equal((await subscribe(channel)).status, 'SUBSCRIBED', `joining ${topic}`);
        return channel;
      }),
    );
    for (const [index, channel] of channels.entries()) {
      assert.equal(await channel.send({ type: 'broadcast', event: 'hello', payload: { from: topics[index] } }), 'ok');
      assert.equal(await channel.track({ at: topics[index] }), 'ok');
    }
    await waitFor(() => seen.every((own, index) => own.messages.length >= 1 && own.keys.has(`in-${index}`)), 'each channel seeing its own broadcast and presence');
    await new Promise((resolve) => setTimeout(resolve, 300));
    seen.forEach((own, index) => {
      assert.deepEqual(own.messages, [{ from: topics[index] }], `only ${topics[index]}'s broadcast in ${topics[index]}`);
      assert.deepEqual([...own.keys], [`in-${index}`], `only ${topics[index]}'s presence in ${topics[index]}`);
    });
    const { rows } = await env.db.pool.query<{ slug: string }>('SELECT slug FROM realtime.channels WHERE slug = ANY($1)', [topics]);
    assert.deepEqual(rows.map((row) => row.slug).sort(), [...topics].sort());
  } finally {
    await Promise.all(clients.map((client) => client.removeAllChannels()));
  }
});
