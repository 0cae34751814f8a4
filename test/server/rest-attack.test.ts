// REST broadcasts under attack: batches are all or nothing with a 4xx naming the bad entry, batch size,
// per-caller rate and channel creation are bounded, and control characters never make a channel name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RawClient } from './raw-client.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { useTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const env = useTestServer({ jwtSecret: JWT_SECRET, limits: { maxBatchMessages: 10, maxRestMessagesPerSecond: 30, maxRestNewChannels: 3 } });

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

async function post(user: string, body: unknown, path = '/api/broadcast'): Promise<Answer> {
  const response = await fetch(`${env.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(user)}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function stored(slugPrefix: string): Promise<Array<{ slug: string; event: string }>> {
  const { rows } = await env.db.pool.query<{ slug: string; event: string }>(
    `SELECT c.slug, m.event_type AS event FROM realtime.messages m JOIN realtime.channels c ON c.id = m.channel_id
      WHERE c.slug LIKE $1 ORDER BY c.slug, m.channel_offset`,
    [`${slugPrefix}%`],
  );
  return rows;
}

async function channels(slugPrefix: string): Promise<string[]> {
  const { rows } = await env.db.pool.query<{ slug: string }>('SELECT slug FROM realtime.channels WHERE slug LIKE $1 ORDER BY slug', [`${slugPrefix}%`]);
  return rows.map((row) => row.slug);
}

test('a batch [ok, bad, ok] stores nothing and answers 422 naming the bad entry; the corrected batch stores each once', async () => {
  const listener = await RawClient.open(env.server, `vsn=2.0.0&apikey=${await token('listener')}`);
  await listener.join('realtime:atomic-a', '1', {}, { access_token: await token('listener') });
  const good = (topic: string, n: number) => ({ topic, event: 'ok', payload: { n } });
  const cases: Array<[string, unknown, string, RegExp]> = [
    [
      'an event longer than 255 characters',
      { topic: 'atomic-a', event: 'e'.repeat(256), payload: {} },
      'messages[1].event',
      /is 256 bytes in UTF-8; at most 255 bytes are accepted/,
    ],
    ['a payload holding U+0000', { topic: 'atomic-a', event: 'x', payload: { text: 'a\u0000b' } }, 'messages[1].payload.text', /\\u0000 cannot be stored/],
    ['a payload over the limit', { topic: 'atomic-a', event: 'x', payload: { text: 'a'.repeat(300_000) } }, 'messages[1].payload', /Payload size exceeds tenant limit/],
    ['a topic too long for a broadcast frame', { topic: 'é'.repeat(130), event: 'x', payload: {} }, 'messages[1].topic', /260 bytes in UTF-8; at most 246 bytes are accepted/],
    ['a topic with an escape sequence', { topic: 'atomic-\u001b[2J', event: 'x', payload: {} }, 'messages[1].topic', /U\+001B at position 8/],
    ['an entry without a topic', { event: 'x', payload: {} }, 'messages[1].topic', /must be a string/],
  ];
  for (const [what, bad, field, problem] of cases) {
    const answer = await post('alice', { messages: [good('atomic-a', 1), bad, good('atomic-b', 2)] });
    assert.equal(answer.status, 422, what);
    const errors = (answer.body as { errors: Record<string, string[]> }).errors;
    assert.deepEqual(Object.keys(errors), [field], what);
    assert.match(errors[field]?.[0] ?? '', problem, what);
    assert.deepEqual(await stored('atomic-'), [], `${what}: nothing is stored`);
  }
  assert.deepEqual(await channels('atomic-'), ['atomic-a'], 'a refused batch creates no channel');

  const accepted = await post('alice', { messages: [good('atomic-a', 1), good('atomic-a', 2), good('atomic-b', 3)] });
  assert.equal(accepted.status, 202);
  assert.deepEqual(await stored('atomic-'), [
    { slug: 'atomic-a', event: 'ok' },
    { slug: 'atomic-a', event: 'ok' },
    { slug: 'atomic-b', event: 'ok' },
  ]);
  await waitFor(() => listener.frames.filter((frame) => frame[3] === 'broadcast').length === 2, 'both atomic-a messages live');
  await listener.close();
});

test('the single endpoint checks the same way: a NUL in the payload or a long event is a 422, not a 500', async () => {
  const nul = await post('alice', { text: '\u0000' }, '/api/broadcast/single-room/events/x');
  assert.equal(nul.status, 422);
  assert.match((nul.body as { errors: Record<string, string[]> }).errors['payload.text']?.[0] ?? '', /\\u0000 cannot be stored/);
  const long = await post('alice', {}, `/api/broadcast/single-room/events/${'e'.repeat(256)}`);
  assert.equal(long.status, 422);
  assert.deepEqual(Object.keys((long.body as { errors: object }).errors), ['event']);
  const deep = '{"a":'.repeat(500) + '1' + '}'.repeat(500);
  assert.equal((await post('alice', deep, '/api/broadcast/single-room/events/x')).status, 422, 'too deep, from a caller with a token');
  const anonymous = await fetch(`${env.server.url}/api/broadcast/single-room/events/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep });
  assert.equal(anonymous.status, 401, 'a caller without a token learns nothing about its body');
  // An escaped backslash followed by "u0000" is ordinary text.
  assert.equal((await post('alice', { text: '\\u0000' }, '/api/broadcast/single-room/events/x')).status, 202);
  assert.equal((await stored('single-room')).length, 1);
});

test("a batch over the size limit is refused whole with Supabase's 429", async () => {
  const messages = Array.from({ length: 11 }, (_, n) => ({ topic: 'sized', event: 'x', payload: { n } }));
  const answer = await post('bob', { messages });
  assert.equal(answer.status, 429);
  assert.deepEqual(answer.body, { message: 'Too many messages to broadcast, please reduce the batch size', max_messages: 10 });
  assert.deepEqual(await stored('sized'), []);
});

test('each caller may send so many REST messages per second; more are refused with 429 and not stored', async () => {
  const batch = { messages: Array.from({ length: 10 }, (_, n) => ({ topic: 'rated', event: 'x', payload: { n } })) };
  const answers = await Promise.all(Array.from({ length: 6 }, () => post('carol', batch)));
  assert.deepEqual(answers.map((answer) => answer.status).sort(), [202, 202, 202, 429, 429, 429]);
  assert.deepEqual(answers.find((answer) => answer.status === 429)?.body, { message: 'You have exceeded your rate limit', max_messages_per_second: 30 });
  assert.equal((await stored('rated')).length, 30);
  // Another caller has its own allowance.
  assert.equal((await post('dave', batch)).status, 202);
});

test('one request creates at most a few channels that do not exist', async () => {
  const topics = (count: number, prefix: string) => ({ messages: Array.from({ length: count }, (_, n) => ({ topic: `${prefix}-${n}`, event: 'x', payload: {} })) });
  const refused = await post('erin', topics(4, 'spawn'));
  assert.equal(refused.status, 422);
  assert.match((refused.body as { errors: { messages: string[] } }).errors.messages[0] ?? '', /would create 4 channels that do not exist; one request may create at most 3/);
  assert.deepEqual(await channels('spawn-'), []);
  assert.equal((await post('erin', topics(3, 'spawn'))).status, 202);
  assert.deepEqual(await channels('spawn-'), ['spawn-0', 'spawn-1', 'spawn-2']);
  // Existing channels do not count.
  assert.equal((await post('erin', { messages: [...topics(3, 'spawn').messages, { topic: 'spawn-new', event: 'x', payload: {} }] })).status, 202);
});

test('a join whose topic carries control characters creates no channel', async () => {
  const client = await RawClient.open(env.server, `vsn=2.0.0&apikey=${await token('mallory')}`);
  const reply = await client.join('realtime:evil\u001b[2J\u202e', '1', {}, { access_token: await token('mallory') });
  assert.equal((reply[4] as { status: string }).status, 'error');
  assert.deepEqual(await channels('evil'), []);
  await client.close();
  await assert.rejects(env.db.pool.query("INSERT INTO realtime.channels (slug, name) VALUES ('sql-made', 'sql' || chr(27) || '[2J')"), /channels_printable_names/);
});
