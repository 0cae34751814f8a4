// A burst of broadcasts from one socket is stored in send order with one ack each, and one broadcast reaches V1, V2 and binary subscribers of a channel each in their own format.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { RawClient } from './raw-client.js';
import { supabase, subscribe } from './support.js';
import { useTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const env = useTestServer({ limits: { maxMessagesPerSecond: 10_000 } });

test('500 broadcasts sent at once by one socket are acknowledged each with its own offset, stored and delivered in send order', async () => {
  const sender = await RawClient.open(env.server);
  const receiver = await RawClient.open(env.server);
  try {
    assert.equal((await sender.join('realtime:burst', '1', { broadcast: { self: false, ack: true } }))[4]['status'], 'ok');
    assert.equal((await receiver.join('realtime:burst', '1'))[4]['status'], 'ok');
    const count = 500;
    for (let index = 0; index < count; index++) {
      sender.send(['1', `b${index}`, 'realtime:burst', 'broadcast', { type: 'broadcast', event: 'n', payload: { index } }]);
    }
    const acks = await waitFor(
      () => {
        const replies = sender.frames.filter((frame) => frame[3] === 'phx_reply' && String(frame[1]).startsWith('b'));
        return replies.length === count && replies;
      },
      'an ack for every broadcast',
      30_000,
    );
    const offsetOf = new Map(acks.map((frame) => [frame[1], frame[4] as { status: string; response: { offset: number } }]));
    for (let index = 0; index < count; index++) {
      const reply = offsetOf.get(`b${index}`);
      assert.equal(reply?.status, 'ok', `broadcast ${index} acknowledged`);
      assert.equal(reply?.response.offset, index + 1, `broadcast ${index} has offset ${index + 1}`);
    }
    const delivered = await waitFor(
      () => {
        const frames = receiver.frames.filter((frame) => frame[3] === 'broadcast');
        return frames.length >= count && frames;
      },
      'every broadcast at the receiver',
      30_000,
    );
    assert.equal(delivered.length, count, 'each broadcast delivered once');
    assert.deepEqual(
      delivered.map((frame) => [(frame[4]['payload'] as { index: number }).index, (frame[4]['meta'] as { offset: number }).offset]),
      Array.from({ length: count }, (_, index) => [index, index + 1]),
    );
    assert.equal(sender.frames.filter((frame) => frame[3] === 'broadcast').length, 0, 'the sender did not get its own broadcasts without self');
    const { rows } = await env.db.pool.query<{ offset: number; index: number }>(
      `SELECT m.channel_offset::int AS offset, (m.payload->>'index')::int AS index
         FROM realtime.messages m JOIN realtime.channels c ON c.id = m.channel_id WHERE c.slug = 'burst' ORDER BY m.channel_offset`,
    );
    assert.deepEqual(
      rows,
      Array.from({ length: count }, (_, index) => ({ offset: index + 1, index })),
    );
  } finally {
    await sender.close();
    await receiver.close();
  }
});

test('a bad broadcast in a burst is refused alone: the others are stored and acknowledged in order', async () => {
  const sender = await RawClient.open(env.server);
  try {
    assert.equal((await sender.join('realtime:mixed', '1', { broadcast: { self: false, ack: true } }))[4]['status'], 'ok');
    const events = ['a', 'b', 'x'.repeat(300), 'c', 'd'];
    events.forEach((event, index) => sender.send(['1', `m${index}`, 'realtime:mixed', 'broadcast', { type: 'broadcast', event, payload: { index } }]));
    const replies = await Promise.all(events.map((_, index) => sender.reply(`m${index}`)));
    assert.deepEqual(
      replies.map((frame) => (frame[4] as { status: string }).status),
      ['ok', 'ok', 'error', 'ok', 'ok'],
    );
    assert.deepEqual(
      replies.map((frame) => (frame[4] as { response: { offset?: number } }).response.offset),
      [1, 2, undefined, 3, 4],
    );
  } finally {
    await sender.close();
  }
});

test('one broadcast reaches vsn 1.0.0 and 2.0.0 subscribers of the same channel, each in its own frame format', async () => {
  const v1 = new WebSocket(`ws://127.0.0.1:${env.server.port}/realtime/v1/websocket?vsn=1.0.0&apikey=dev`);
  await new Promise((resolve, reject) => {
    v1.once('open', resolve);
    v1.once('error', reject);
  });
  const v1Frames: unknown[] = [];
  v1.on('message', (data: Buffer) => v1Frames.push(JSON.parse(data.toString())));
  const v2 = await RawClient.open(env.server);
  const sender = supabase(env.server);
  try {
    v1.send(JSON.stringify({ topic: 'realtime:mixed-versions', event: 'phx_join', payload: { config: {} }, ref: '1', join_ref: '1' }));
    await waitFor(() => v1Frames.find((frame) => (frame as { event: string }).event === 'phx_reply'), 'the vsn 1.0.0 join reply');
    assert.equal((await v2.join('realtime:mixed-versions', '7'))[4]['status'], 'ok');
    const channel = sender.channel('mixed-versions');
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    assert.equal(await channel.send({ type: 'broadcast', event: 'hello', payload: { text: 'hi' } }), 'ok');
    const asV1 = await waitFor(() => v1Frames.find((frame) => (frame as { event: string }).event === 'broadcast'), 'the broadcast on vsn 1.0.0');
    assert.deepEqual(asV1, {
      topic: 'realtime:mixed-versions',
      event: 'broadcast',
      ref: null,
      payload: { type: 'broadcast', event: 'hello', payload: { text: 'hi' }, meta: { id: (asV1 as { payload: { meta: { id: string } } }).payload.meta.id, offset: 1 } },
    });
    const asV2 = await v2.expect((frame) => frame[3] === 'broadcast', 'the broadcast on vsn 2.0.0');
    assert.deepEqual(asV2, [
      null,
      null,
      'realtime:mixed-versions',
      'broadcast',
      { type: 'broadcast', event: 'hello', payload: { text: 'hi' }, meta: { id: (asV1 as { payload: { meta: { id: string } } }).payload.meta.id, offset: 1 } },
    ]);
  } finally {
    v1.close();
    await v2.close();
    await sender.removeAllChannels();
  }
});
