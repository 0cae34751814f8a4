// Conformance: unmodified supabase-js broadcasts through the server, with `self` and `ack`, on vsn 1.0.0 and 2.0.0.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { subscribe, supabase } from './support.js';
import { startTestServer, useTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const env = useTestServer();

for (const vsn of ['1.0.0', '2.0.0'] as const) {
  describe(`broadcast, vsn ${vsn}`, () => {
    test('a broadcast reaches the other subscriber, is stored with its offset, and is not echoed without self', async () => {
      const sender = supabase(env.server, { vsn });
      const receiver = supabase(env.server, { vsn });
      const room = `room-${vsn.replace(/\./g, '')}`;
      try {
        const received: unknown[] = [];
        const echoed: unknown[] = [];
        const a = sender.channel(room).on('broadcast', { event: 'hello' }, (message) => echoed.push(message));
        const b = receiver.channel(room).on('broadcast', { event: 'hello' }, (message) => received.push(message));
        assert.equal((await subscribe(a)).status, 'SUBSCRIBED');
        assert.equal((await subscribe(b)).status, 'SUBSCRIBED');
        assert.equal(await a.send({ type: 'broadcast', event: 'hello', payload: { text: 'hi' } }), 'ok');
        const message = await waitFor(() => received[0] as { event: string; payload: unknown; meta: { offset: number } } | undefined, 'the broadcast');
        assert.equal(message.event, 'hello');
        assert.deepEqual(message.payload, { text: 'hi' });
        assert.equal(message.meta.offset, 1);
        const { rows } = await env.db.pool.query(
          `SELECT m.channel_offset::int AS offset, m.event_type, m.payload FROM realtime.messages m
             JOIN realtime.channels c ON c.id = m.channel_id WHERE c.slug = $1`,
          [room],
        );
        assert.deepEqual(rows, [{ offset: 1, event_type: 'hello', payload: { text: 'hi' } }]);
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.deepEqual(echoed, [], 'the sender must not receive its own broadcast without self');
      } finally {
        await sender.removeAllChannels();
        await receiver.removeAllChannels();
      }
    });

    test('with self and ack, the sender gets its own broadcast and send() resolves once stored', async () => {
      const client = supabase(env.server, { vsn });
      const room = `self-ack-${vsn.replace(/\./g, '')}`;
      try {
        const received: Array<{ payload: unknown }> = [];
        const channel = client
          .channel(room, { config: { broadcast: { self: true, ack: true } } })
          .on('broadcast', { event: 'ping' }, (message) => received.push(message as unknown as { payload: unknown }));
        assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
        for (let index = 0; index < 5; index++) {
          assert.equal(await channel.send({ type: 'broadcast', event: 'ping', payload: { index } }), 'ok');
          const { rows } = await env.db.pool.query(`SELECT count(*)::int AS n FROM realtime.messages m JOIN realtime.channels c ON c.id = m.channel_id WHERE c.slug = $1`, [room]);
          assert.equal(rows[0].n, index + 1, 'an acknowledged broadcast is already stored');
        }
        await waitFor(() => received.length === 5, 'five echoed broadcasts');
        assert.deepEqual(
          received.map((message) => message.payload),
          [0, 1, 2, 3, 4].map((index) => ({ index })),
        );
      } finally {
        await client.removeAllChannels();
      }
    });
  });
}

test('binary payloads travel as kind-4 frames between vsn 2.0.0 clients', async () => {
  const sender = supabase(env.server);
  const receiver = supabase(env.server);
  try {
    const received: Array<{ payload: unknown }> = [];
    const a = sender.channel('bytes');
    const b = receiver.channel('bytes').on('broadcast', { event: 'blob' }, (message) => received.push(message as unknown as { payload: unknown }));
    assert.equal((await subscribe(a)).status, 'SUBSCRIBED');
    assert.equal((await subscribe(b)).status, 'SUBSCRIBED');
    await a.send({ type: 'broadcast', event: 'blob', payload: new Uint8Array([1, 2, 3]).buffer });
    const message = await waitFor(() => received[0], 'the binary broadcast');
    assert.ok(message.payload instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(message.payload)], [1, 2, 3]);
  } finally {
    await sender.removeAllChannels();
    await receiver.removeAllChannels();
  }
});

test('an oversized acknowledged broadcast is refused with payload_size_exceeded and not stored', async () => {
  const small = await startTestServer(env.db, { limits: { maxPayloadBytes: 100 } });
  const client = supabase(small);
  try {
    const channel = client.channel('oversize', { config: { broadcast: { ack: true } } });
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    assert.equal(await channel.send({ type: 'broadcast', event: 'big', payload: { text: 'x'.repeat(200) } }), 'error');
    const { rows } = await env.db.pool.query(`SELECT count(*)::int AS n FROM realtime.messages m JOIN realtime.channels c ON c.id = m.channel_id WHERE c.slug = 'oversize'`);
    assert.equal(rows[0].n, 0);
  } finally {
    await client.removeAllChannels();
    await small.close();
  }
});

test("concurrent senders: everyone gets every other sender's broadcast once, in offset order, and never their own", async () => {
  const clients = Array.from({ length: 5 }, () => supabase(env.server));
  try {
    const logs: Array<Array<{ from: number; offset: number }>> = clients.map(() => []);
    const channels = clients.map((client, index) =>
      client.channel('crowd').on('broadcast', { event: 'say' }, (message) => {
        logs[index]?.push({ from: (message.payload as { from: number }).from, offset: (message as unknown as { meta: { offset: number } }).meta.offset });
      }),
    );
    for (const channel of channels) assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    const perSender = 20;
    await Promise.all(
      channels.map(async (channel, from) => {
        for (let index = 0; index < perSender; index++) await channel.send({ type: 'broadcast', event: 'say', payload: { from } });
      }),
    );
    const expected = perSender * (clients.length - 1);
    await waitFor(() => logs.every((log) => log.length >= expected), 'every broadcast from the others', 15_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const [index, log] of logs.entries()) {
      assert.equal(log.length, expected, `client ${index} got each broadcast once`);
      assert.equal(log.filter((entry) => entry.from === index).length, 0, `client ${index} never got its own`);
      const offsets = log.map((entry) => entry.offset);
      assert.deepEqual(
        offsets,
        [...offsets].sort((a, b) => a - b),
        `client ${index} got them in offset order`,
      );
    }
  } finally {
    await Promise.all(clients.map((client) => client.removeAllChannels()));
  }
});
