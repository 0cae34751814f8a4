// Unit tests of the client's outbox: sends made while the channel is not joined wait in order, within a bound.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RealtimeError } from '../src/errors.js';
import { Outbox, type QueuedSend } from '../src/outbox.js';

function send(event: string, outcomes: string[]): QueuedSend {
  return { event, payload: {}, resolve: () => outcomes.push(`sent:${event}`), reject: (error) => outcomes.push(`${error.code}:${event}`) };
}

test('waiting sends leave in the order they were made, once each', () => {
  const outbox = new Outbox(10, 'room');
  const outcomes: string[] = [];
  for (const event of ['a', 'b', 'c']) outbox.add(send(event, outcomes));
  assert.deepEqual(
    outbox.takeAll().map((item) => item.event),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(outbox.takeAll(), []);
});

test('a send beyond the bound is refused at once with QUEUE_FULL naming the channel and the setting; those before it still wait', () => {
  const outbox = new Outbox(2, 'room');
  const outcomes: string[] = [];
  for (const event of ['a', 'b', 'c']) outbox.add(send(event, outcomes));
  assert.deepEqual(outcomes, ['QUEUE_FULL:c']);
  assert.deepEqual(
    outbox.takeAll().map((item) => item.event),
    ['a', 'b'],
  );
  const refused: RealtimeError[] = [];
  new Outbox(0, 'lobby').add({ event: 'x', payload: {}, resolve: () => undefined, reject: (error) => refused.push(error) });
  assert.match(refused[0]?.message ?? '', /channel "lobby" already has 0 messages waiting.*maxQueuedSends/);
});

test('failing the outbox rejects every waiting send with the error, and leaves it empty', () => {
  const outbox = new Outbox(5, 'room');
  const outcomes: string[] = [];
  for (const event of ['a', 'b']) outbox.add(send(event, outcomes));
  outbox.failAll(new RealtimeError('CLOSED', 'closed'));
  assert.deepEqual(outcomes, ['CLOSED:a', 'CLOSED:b']);
  assert.deepEqual(outbox.takeAll(), []);
});
