// Unit tests of the broadcast feed's ordering over a memory of the channel logs: every message once, in offset order, whatever order news of it arrives in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createHmac, randomBytes } from 'node:crypto';
import { ExactNumber, NoteKeys, parseExactJson, stringifyExact, type BroadcastNote, type Message } from '@nself/db';
import { BroadcastFeed, type BroadcastSubscriber } from '../src/broadcast/broadcast-feed.js';
import { createMetrics } from '../src/metrics.js';
import { MemoryBroadcastLog } from './memory-broadcast-log.js';

const CHANNEL = 'channel-1';

/** A subscriber recording the offsets delivered to it, and those it was passed over for (its own sends without `self`). */
class Recorder implements BroadcastSubscriber {
  readonly delivered: number[] = [];
  readonly messages: Message[] = [];
  readonly passed: number[] = [];
  readonly deleted: number[] = [];
  deleteBroadcast(deleted: { offset: number }): void {
    this.deleted.push(deleted.offset);
  }
  deliverBroadcast(message: Message): void {
    this.delivered.push(message.offset);
    this.messages.push(message);
  }
  passBroadcast(message: Message): void {
    this.passed.push(message.offset);
  }
}

/** The key of the server processes in these tests, and a stranger's. */
const secret = randomBytes(32);
const strangersSecret = randomBytes(32);

function setUp(keyed = false): { log: MemoryBroadcastLog; feed: BroadcastFeed; metrics: ReturnType<typeof createMetrics> } {
  const log = new MemoryBroadcastLog();
  const metrics = createMetrics();
  return { log, feed: new BroadcastFeed(log, pino({ level: 'silent' }), metrics, keyed ? new NoteKeys(new Map([[1, secret]])) : undefined), metrics };
}

/** Lets the feed's reads and deliveries run to the end. */
async function settle(): Promise<void> {
  for (let round = 0; round < 20; round++) await new Promise((resolve) => setImmediate(resolve));
}

/** A feed (with the keys or without) that `viewer` has joined, once the join's catch-up read is done; `readsAfterJoin` is the log's reads by then. */
async function joined(
  keyed = false,
): Promise<{ log: MemoryBroadcastLog; feed: BroadcastFeed; metrics: ReturnType<typeof createMetrics>; viewer: Recorder; readsAfterJoin: number }> {
  const { log, feed, metrics } = setUp(keyed);
  const viewer = new Recorder();
  feed.subscribe(CHANNEL, viewer, 0);
  await settle();
  return { log, feed, metrics, viewer, readsAfterJoin: log.reads };
}

/** The notification that says where `message` is, as realtime.message_note writes it once the key exists. */
function notify(feed: BroadcastFeed, message: Message): void {
  const body = JSON.stringify({ id: message.id, channel_id: message.channelId, offset: message.offset, key: 1 });
  deliverNote(feed, `{"mac":"${createHmac('sha256', secret).update(body).digest('hex')}",${body.slice(1)}`);
}

/** Hands the feed a notification as the listener does: its text and its parse. */
function deliverNote(feed: BroadcastFeed, text: string): void {
  const note = parseExactJson(text) as BroadcastNote;
  feed.notify(note, feed.authentic(note, text));
}

/** The notification realtime.carried_note writes for `message`: the MAC under `key`, then its place and the message, the payload as the log's JSON text. */
function carriedNote(message: Message, payloadText = stringifyExact(message.payload), key = secret): string {
  const carried = {
    event: message.event,
    sender: message.sender,
    sent_at: `${message.sentAt.toISOString().replace('T', ' ').replace('Z', '')}000+00`,
    payload: '<payload>',
    payload_binary: message.payloadBinary?.toString('base64') ?? null,
  };
  const body = JSON.stringify({ id: message.id, channel_id: message.channelId, offset: message.offset, key: 1, message: carried }).replace(
    '"<payload>"',
    message.payload === null ? 'null' : payloadText,
  );
  return `{"mac":"${createHmac('sha256', key).update(body).digest('hex')}",${body.slice(1)}`;
}

async function counterValue(metrics: ReturnType<typeof createMetrics>, name: 'broadcastLogReads' | 'broadcastsCarried' | 'broadcastNotesRefused'): Promise<number> {
  return (await metrics[name].get()).values[0]?.value ?? 0;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

test('notifications arriving out of order, or twice, deliver every message once and in offset order', async () => {
  const { log, feed, viewer } = await joined();
  const [first, second, third] = [log.appendElsewhere(CHANNEL), log.appendElsewhere(CHANNEL), log.appendElsewhere(CHANNEL)];
  for (const message of [third, first, third, second, first]) notify(feed, message);
  await settle();
  assert.deepEqual(viewer.delivered, [1, 2, 3]);
});

test('a message notified while the catch-up read runs is read again, not lost, when that read found nothing', async () => {
  const { log, feed } = setUp();
  const viewer = new Recorder();
  log.holdReads();
  feed.subscribe(CHANNEL, viewer, 0); // the join's catch-up read takes its snapshot now: an empty log
  await settle();
  notify(feed, log.appendElsewhere(CHANNEL)); // committed after that snapshot, notified while the read is out
  log.releaseReads();
  await settle();
  assert.deepEqual(viewer.delivered, [1]);
});

test('the sender of a broadcast without `self` is passed over, however its notification and its commit race; others receive it once', async () => {
  const { feed } = setUp();
  const sender = new Recorder();
  const viewer = new Recorder();
  feed.subscribe(CHANNEL, sender, 0);
  feed.subscribe(CHANNEL, viewer, 0);
  await settle();
  const stored = await feed.send({ channelId: CHANNEL, event: 'chat', payload: {}, binary: null, sender: 'ann', exclude: sender });
  notify(feed, stored);
  await settle();
  assert.deepEqual(sender.delivered, []);
  assert.deepEqual(sender.passed, [1]);
  assert.deepEqual(viewer.delivered, [1]);
});

test('sends to one channel while a write is in flight are stored together, with offsets in the order of the calls', async () => {
  const { log, feed, viewer } = await joined();
  const sends = range(1, 5).map((index) => feed.send({ channelId: CHANNEL, event: `e${index}`, payload: { index }, binary: null, sender: null }));
  const stored = await Promise.all(sends);
  assert.deepEqual(
    stored.map((message) => message.event),
    ['e1', 'e2', 'e3', 'e4', 'e5'],
  );
  assert.deepEqual(
    stored.map((message) => message.offset),
    [1, 2, 3, 4, 5],
  );
  assert.equal(log.appends, 2, 'the first send alone, the four queued behind it in one statement');
  await settle();
  assert.deepEqual(viewer.delivered, [1, 2, 3, 4, 5]);
});

test('offsets that retention deleted are skipped, and delivery goes on from the oldest stored message', async () => {
  const { log, feed } = setUp();
  const viewer = new Recorder();
  const messages = range(1, 5).map(() => log.appendElsewhere(CHANNEL));
  log.trim(CHANNEL, 3);
  feed.subscribe(CHANNEL, viewer, 0);
  notify(feed, messages[4] as Message);
  await settle();
  assert.deepEqual(viewer.delivered, [4, 5]);
});

test('after the listener reconnects, messages whose notifications were lost are read and delivered, across pages', async () => {
  const { log, feed, viewer } = await joined();
  for (let index = 0; index < 2_500; index++) log.appendElsewhere(CHANNEL);
  feed.catchUp();
  await settle();
  assert.deepEqual(viewer.delivered, range(1, 2_500));
  assert.ok(log.reads >= 3, 'read in pages of at most 1,000');
});

test("a subscriber joining a channel the feed already follows receives what comes after the feed's last delivered offset", async () => {
  const { log, feed } = setUp();
  const early = new Recorder();
  feed.subscribe(CHANNEL, early, 0);
  notify(feed, log.appendElsewhere(CHANNEL));
  await settle();
  const late = new Recorder();
  assert.equal(feed.subscribe(CHANNEL, late, 0), 1, 'live after offset 1');
  notify(feed, log.appendElsewhere(CHANNEL));
  await settle();
  assert.deepEqual(early.delivered, [1, 2]);
  assert.deepEqual(late.delivered, [2]);
});

test('a message deleted before the feed delivered it is never delivered, even by a read that began before the deletion; one delivered already is announced', async () => {
  const { log, feed, viewer } = await joined();
  const first = log.appendElsewhere(CHANNEL);
  notify(feed, first);
  await settle();
  const [second, third] = [log.appendElsewhere(CHANNEL), log.appendElsewhere(CHANNEL)];
  log.holdReads();
  notify(feed, third); // the read for 2 and 3 takes its snapshot with 2 still stored
  await settle();
  feed.deleted({ id: second.id, channel_id: CHANNEL, offset: 2, deleted: true });
  feed.deleted({ id: first.id, channel_id: CHANNEL, offset: 1, deleted: true });
  log.releaseReads();
  await settle();
  assert.deepEqual(viewer.delivered, [1, 3]);
  assert.deepEqual(viewer.deleted, [1], 'only the delivered one is announced');
});

test('messages carried by their notifications are delivered in order without reading the log, exactly as a read would give them', async () => {
  const { log, feed, metrics, viewer, readsAfterJoin } = await joined(true);
  const messages = range(1, 3).map(() => log.appendElsewhere(CHANNEL));
  const exact = messages[1] as Message;
  // The log's JSON text of a number a JavaScript number cannot hold.
  deliverNote(feed, carriedNote(messages[0] as Message));
  deliverNote(feed, carriedNote(exact, '{"big": 9007199254740993, "event": "note"}'));
  deliverNote(feed, carriedNote(messages[2] as Message));
  await settle();
  assert.deepEqual(viewer.delivered, [1, 2, 3]);
  assert.equal(log.reads, readsAfterJoin, 'no read after the join');
  assert.equal(stringifyExact(viewer.messages[1]?.payload), '{"big":9007199254740993,"event":"note"}');
  assert.ok((viewer.messages[1]?.payload as { big: unknown }).big instanceof ExactNumber);
  assert.equal(viewer.messages[0]?.sentAt.getTime(), messages[0]?.sentAt.getTime());
  assert.equal(viewer.messages[0]?.id, messages[0]?.id);
  assert.equal(await counterValue(metrics, 'broadcastsCarried'), 3);
  assert.equal(await counterValue(metrics, 'broadcastLogReads'), readsAfterJoin);
});

test('a carried message after a gap waits: the gap is read from the log, then delivery goes on in offset order', async () => {
  const { log, feed, viewer, readsAfterJoin } = await joined(true);
  const [first, , third] = range(1, 3).map(() => log.appendElsewhere(CHANNEL));
  deliverNote(feed, carriedNote(first as Message));
  deliverNote(feed, carriedNote(third as Message)); // the notification of offset 2 was lost
  await settle();
  assert.deepEqual(viewer.delivered, [1, 2, 3]);
  assert.equal(log.reads, readsAfterJoin + 1, 'one read for the gap');
});

test('a carried message already delivered, or notified twice, is delivered once', async () => {
  const { log, feed, metrics, viewer, readsAfterJoin } = await joined(true);
  const [first, second] = [log.appendElsewhere(CHANNEL), log.appendElsewhere(CHANNEL)];
  for (const message of [first, first, second, first, second]) deliverNote(feed, carriedNote(message));
  notify(feed, first);
  await settle();
  assert.deepEqual(viewer.delivered, [1, 2]);
  assert.equal(log.reads, readsAfterJoin);
  assert.equal(await counterValue(metrics, 'broadcastsCarried'), 2, 'duplicates are not counted');
});

test('notifications of both forms mix: those without their message (too large, or from SQL) are read back, in order with the carried ones', async () => {
  const { log, feed, viewer, readsAfterJoin } = await joined(true);
  const messages = range(1, 5).map(() => log.appendElsewhere(CHANNEL));
  deliverNote(feed, carriedNote(messages[0] as Message));
  notify(feed, messages[1] as Message);
  deliverNote(feed, carriedNote(messages[2] as Message));
  notify(feed, messages[3] as Message);
  deliverNote(feed, carriedNote(messages[4] as Message));
  await settle();
  assert.deepEqual(viewer.delivered, [1, 2, 3, 4, 5]);
  assert.ok(log.reads > readsAfterJoin, 'what was not carried is read');
});

test('without the keys, a notification is only a position: what it carries is never delivered, the log is', async () => {
  const { log, feed, metrics, viewer } = await joined(false);
  const stored = log.appendElsewhere(CHANNEL);
  deliverNote(feed, carriedNote({ ...stored, event: 'other', payload: { other: true } }));
  await settle();
  assert.deepEqual(
    viewer.messages.map((message) => message.event),
    ['note'],
  );
  assert.equal(await counterValue(metrics, 'broadcastsCarried'), 0);
});

test("a note that does not verify (another key, copied to another offset, altered, unsigned) is counted and read back; the log's messages are delivered", async () => {
  const { log, feed, metrics, viewer, readsAfterJoin } = await joined(true);
  const [first, second, third, fourth] = range(1, 4).map(() => log.appendElsewhere(CHANNEL)) as [Message, Message, Message, Message];
  deliverNote(feed, carriedNote({ ...first, event: 'forged', payload: { forged: 1 } }, undefined, strangersSecret));
  await settle();
  // A genuine note of offset 1, sent again as offset 2: its message must not stand in for offset 2's.
  deliverNote(feed, carriedNote({ ...first, payload: { copied: true } }).replace('"offset":1,', '"offset":2,'));
  await settle();
  deliverNote(feed, carriedNote(third).replace('"payload":{"event":"note"}', '"payload":{"event":"altered"}'));
  await settle();
  const unsigned = parseExactJson(carriedNote({ ...fourth, payload: { unsigned: true } })) as Record<string, unknown>;
  delete unsigned['mac'];
  deliverNote(feed, JSON.stringify(unsigned));
  await settle();
  assert.deepEqual(viewer.delivered, [1, 2, 3, 4]);
  assert.deepEqual(
    viewer.messages.map((message) => [message.id, message.payload]),
    [first, second, third, fourth].map((message) => [message.id, message.payload]),
  );
  assert.equal(await counterValue(metrics, 'broadcastNotesRefused'), 4);
  assert.equal(await counterValue(metrics, 'broadcastsCarried'), 0);
  assert.ok(log.reads > readsAfterJoin, 'the messages were read from the log');
});

test("with the keys, a position no server signed (a login's NOTIFY) is not authentic, so it cannot tell the access watch a message was seen; it is counted and still only starts a read", async () => {
  const { log, feed, metrics, viewer } = await joined(true);
  const stored = log.appendElsewhere(CHANNEL);
  const unsigned = JSON.stringify({ id: stored.id, channel_id: CHANNEL, offset: 1_000_000 });
  assert.equal(feed.authentic(parseExactJson(unsigned) as BroadcastNote, unsigned), false);
  const body = JSON.stringify({ id: stored.id, channel_id: CHANNEL, offset: 1_000_000, key: 1 });
  const signedByStranger = `{"mac":"${createHmac('sha256', strangersSecret).update(body).digest('hex')}",${body.slice(1)}`;
  assert.equal(feed.authentic(parseExactJson(signedByStranger) as BroadcastNote, signedByStranger), false);
  assert.equal(await counterValue(metrics, 'broadcastNotesRefused'), 2);
  deliverNote(feed, unsigned);
  await settle();
  assert.deepEqual(viewer.delivered, [1], 'the log says what is there');
});
