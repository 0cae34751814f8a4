// `nself realtime broadcast|messages|replay|events`: the channel log, its offsets, NOTIFY, and bad input.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realtime } from '../helpers/cli.js';
import { assertUserError, parseTable, snapshot } from './support.js';

let db: TestDatabase;
const run = (...args: string[]) => realtime(args, { databaseUrl: db.url });
before(async () => {
  db = await createTestDatabase({ migrated: true });
  await db.pool.query(`INSERT INTO realtime.channels (slug, name, type) VALUES ('general', 'general', 'public'),
                       ('quiet', 'quiet', 'public'), ('cleanup', 'cleanup', 'public')`);
});
after(async () => {
  await db.drop();
});

test('broadcast stores the message with the next offset and says so', async () => {
  const first = await run('broadcast', 'general', 'user.joined', '{"user_id": "123", "name": "John Doe"}');
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^Broadcast user\.joined to channel "general" at offset 1 \(message [0-9a-f-]{36}\)\.\n$/);
  const second = await run('broadcast', 'general', 'message.sent', '{"text": "Hello"}', 'user-123');
  assert.match(second.stdout, / at offset 2 /);
  const { rows } = await db.pool.query(`SELECT channel_offset::int AS offset, event_type, payload, sender_id
                                          FROM realtime.messages ORDER BY channel_offset`);
  assert.deepEqual(rows, [
    { offset: 1, event_type: 'user.joined', payload: { user_id: '123', name: 'John Doe' }, sender_id: null },
    { offset: 2, event_type: 'message.sent', payload: { text: 'Hello' }, sender_id: 'user-123' },
  ]);
});

test('a CLI broadcast sends a NOTIFY on realtime:broadcast that a plain LISTEN receives: where the message is, not what it says', async () => {
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  try {
    const received = new Promise<pg.Notification>((resolve) => listener.on('notification', resolve));
    await listener.query('LISTEN "realtime:broadcast"');
    const result = await run('broadcast', 'general', 'ping', '{"n": 1}', 'user-9');
    assert.equal(result.code, 0, result.stderr);
    const notification = await Promise.race([received, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no NOTIFY within 5 s')), 5000))]);
    assert.equal(notification.channel, 'realtime:broadcast');
    const note = JSON.parse(notification.payload ?? '{}');
    assert.deepEqual(Object.keys(note).sort(), ['channel_id', 'id', 'offset'], 'any database login may LISTEN: no payload, event or sender');
    assert.equal(note.offset, 3);
    const { rows } = await db.pool.query('SELECT event_type, sender_id, payload FROM realtime.messages WHERE id = $1 AND channel_id = $2', [note.id, note.channel_id]);
    assert.deepEqual(rows, [{ event_type: 'ping', sender_id: 'user-9', payload: { n: 1 } }], 'the message is read from the table');
  } finally {
    await listener.end();
  }
});

test('messages shows the newest messages oldest first, with offsets, and honours the limit', async () => {
  const all = await run('messages', 'general');
  assert.equal(all.code, 0, all.stderr);
  const table = parseTable(all.stdout);
  assert.deepEqual(table.columns, ['offset', 'event_type', 'sender', 'payload', 'sent_at']);
  assert.deepEqual(
    table.rows.map((row) => row.offset),
    ['1', '2', '3'],
  );
  assert.equal(table.rows[0]?.payload, '{"name": "John Doe", "user_id": "123"}');
  const two = parseTable((await run('messages', 'general', '2')).stdout);
  assert.deepEqual(
    two.rows.map((row) => row.event_type),
    ['message.sent', 'ping'],
  );
  const empty = parseTable((await run('messages', 'quiet')).stdout);
  assert.equal(empty.rows.length, 0);
});

test('messages prints JSON with --json, --format json and the trailing json word', async () => {
  const outputs = await Promise.all([
    run('messages', 'general', '50', 'json'),
    run('messages', 'general', 'json'),
    run('messages', 'general', '--json'),
    run('messages', 'general', '--format', 'json'),
  ]);
  const parsed = outputs.map((output) => JSON.parse(output.stdout));
  for (const other of parsed.slice(1)) assert.deepEqual(other, parsed[0]);
  assert.deepEqual(
    parsed[0].map((m: { offset: number }) => m.offset),
    [1, 2, 3],
  );
  assert.deepEqual(parsed[0][1].payload, { text: 'Hello' });
  assert.equal(parsed[0][1].sender, 'user-123');
  assert.equal(parsed[0][1].channel, 'general');
  assert.match(parsed[0][1].sent_at, /Z$/);
});

test('payloads with quotes, unicode and SQL text are stored as data', async () => {
  const payload = { text: `it's "quoted" \\ 'x'); DROP TABLE realtime.messages;--`, emoji: '🎉 ünïcödé', nested: { list: [1, null, true] } };
  const event = `odd "event" ' name`;
  const result = await run('broadcast', 'quiet', event, JSON.stringify(payload), `user '; --`);
  assert.equal(result.code, 0, result.stderr);
  const [message] = JSON.parse((await run('messages', 'quiet', '1', 'json')).stdout);
  assert.deepEqual(message.payload, payload);
  assert.equal(message.event_type, event);
  assert.equal(message.sender, `user '; --`);
});

test('a payload of 250 KB round-trips through broadcast (from standard input) and messages json', async () => {
  const payload = { blob: 'x'.repeat(250 * 1024), tail: 'é' };
  const result = await realtime(['broadcast', 'quiet', 'big.one', '-'], { databaseUrl: db.url, input: JSON.stringify(payload) });
  assert.equal(result.code, 0, result.stderr);
  const [message] = JSON.parse((await run('messages', 'quiet', '1', 'json')).stdout);
  assert.equal(message.event_type, 'big.one');
  assert.deepEqual(message.payload, payload);
});

test('replay accepts unix seconds, unix milliseconds and ISO 8601, and is ordered by offset', async () => {
  await db.pool.query(`UPDATE realtime.messages SET sent_at = '2026-01-30T09:00:00Z' WHERE channel_offset = 1
                         AND channel_id = (SELECT id FROM realtime.channels WHERE slug = 'general')`);
  const sinceEpoch = parseTable((await run('replay', 'general', '1643723400')).stdout);
  assert.deepEqual(sinceEpoch.columns, ['offset', 'event_type', 'sender', 'payload', 'sent_at']);
  assert.deepEqual(
    sinceEpoch.rows.map((row) => row.offset),
    ['1', '2', '3'],
  );
  const tenOClock = Date.parse('2026-01-30T10:00:00Z');
  for (const since of [String(tenOClock / 1000), String(tenOClock), '2026-01-30T10:00:00Z', '2026-01-30 12:00:00+02:00', '2026-01-30T10:00']) {
    const result = await run('replay', 'general', since);
    assert.equal(result.code, 0, `${since}: ${result.stderr}`);
    assert.deepEqual(
      parseTable(result.stdout).rows.map((row) => row.offset),
      ['2', '3'],
      since,
    );
  }
  const json = JSON.parse((await run('replay', 'general', '1643723400', 'json')).stdout);
  assert.deepEqual(
    json.map((m: { offset: number }) => m.offset),
    [1, 2, 3],
  );
});

test('replay --after resumes after an offset and --limit caps the count', async () => {
  const after = JSON.parse((await run('replay', 'general', '--after', '1', '--json')).stdout);
  assert.deepEqual(
    after.map((m: { offset: number }) => m.offset),
    [2, 3],
  );
  const limited = JSON.parse((await run('replay', 'general', '1643723400', '--limit', '2', '--json')).stdout);
  assert.deepEqual(
    limited.map((m: { offset: number }) => m.offset),
    [1, 2],
  );
  const both = JSON.parse((await run('replay', 'general', '2026-01-01', '--after', '2', 'json')).stdout);
  assert.deepEqual(
    both.map((m: { offset: number }) => m.offset),
    [3],
  );
});

test('events counts event types within the hours asked, most recent first', async () => {
  const recent = await run('events', 'general');
  assert.equal(recent.code, 0, recent.stderr);
  const table = parseTable(recent.stdout);
  assert.deepEqual(table.columns, ['event_type', 'count', 'last_sent']);
  assert.deepEqual(
    table.rows.map((row) => [row.event_type, row.count]),
    [
      ['ping', '1'],
      ['message.sent', '1'],
    ],
  );
  const wide = JSON.parse((await run('events', 'general', '100000', 'json')).stdout);
  assert.deepEqual(
    wide.map((row: { event_type: string }) => row.event_type),
    ['ping', 'message.sent', 'user.joined'],
  );
  assert.equal(wide[0].count, 1);
});

test('bad broadcast input is refused with one line and writes nothing', async () => {
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  const notes: string[] = [];
  listener.on('notification', (note) => notes.push(note.payload ?? ''));
  await listener.query('LISTEN "realtime:broadcast"');
  const before = await snapshot(db.pool);
  try {
    assertUserError(await run('broadcast', 'nowhere', 'ev', '{}'), /unknown channel "nowhere"/);
    assertUserError(await run('broadcast', 'general', 'ev', '{"a": }'), /payload is not valid JSON: unexpected character "}" at position 6$/);
    assertUserError(await run('broadcast', 'general', 'ev', '{"a": 1'), /payload is not valid JSON: unexpected end of input at position 7$/);
    assertUserError(await run('broadcast', 'general', 'ev', '"text"'), /payload must be a JSON object .*got a string/);
    assertUserError(
      await run('broadcast', 'general', 'ev'),
      /missing required argument 'payload-json'; usage: nself realtime broadcast <channel> <event> <payload-json> \[sender\]/,
    );
    assertUserError(await run('broadcast', 'general'), /missing required argument 'event'/);
    assertUserError(await run('broadcast'), /missing required argument 'channel'/);
    assertUserError(await run('broadcast', 'general', '', '{}'), /event name must not be empty/);
    assertUserError(await run('messages', 'general', '-5'), /limit must be a whole number of at least 1, got "-5"/);
    assertUserError(await run('messages', 'general', 'ten'), /limit must be a whole number of at least 1, got "ten"/);
    assertUserError(await run('messages', 'general', '0'), /limit must be a whole number of at least 1/);
    assertUserError(await run('messages', 'general', '2.5'), /limit must be a whole number/);
    assertUserError(await run('messages', 'general', '5', 'xml'), /unexpected argument "xml"; the last argument can only be "json" or "table"/);
    assertUserError(await run('messages', 'nowhere'), /unknown channel "nowhere"/);
    assertUserError(await run('replay', 'general', 'yesterday'), /invalid timestamp "yesterday"; expected unix seconds .* or ISO 8601/);
    assertUserError(await run('replay', 'general', '2026-02-30T10:00:00Z'), /invalid timestamp "2026-02-30T10:00:00Z": no such date/);
    assertUserError(await run('replay', 'general'), /missing required argument 'since'; usage: nself realtime replay/);
    assertUserError(await run('replay', 'general', '--after', '-1'), /--after must be a whole number of at least 0/);
    assertUserError(await run('replay', 'general', '1643723400', '--limit', 'many'), /--limit must be a whole number of at least 1, got "many"/);
    assertUserError(await run('events', 'general', '-1'), /hours must be a number of at least 0, got "-1"/);
    assertUserError(await run('events', 'general', 'day'), /hours must be a number of at least 0, got "day"/);
    assertUserError(await run('broadcast', 'cleanup', '-3'), /hours must be a number of at least 0, got "-3"/);
    assert.equal(await snapshot(db.pool), before);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(notes, []);
  } finally {
    await listener.end();
  }
});

test('broadcast cleanup deletes old messages only; a channel named "cleanup" still takes messages', async () => {
  const sent = await run('broadcast', 'cleanup', 'some.event', '{"kept": true}');
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stdout, /to channel "cleanup" at offset 1/);
  await db.pool.query("INSERT INTO realtime.presence (user_id, status, last_seen_at) VALUES ('idle', 'online', now() - interval '1 day')");
  const cleaned = await run('broadcast', 'cleanup', '48');
  assert.equal(cleaned.code, 0, cleaned.stderr);
  assert.equal(cleaned.stdout, 'Deleted 1 message older than 48 hours.\n');
  const { rows } = await db.pool.query('SELECT event_type FROM realtime.messages ORDER BY sent_at');
  assert.ok(!rows.some((row) => row.event_type === 'user.joined'), 'the message of 2026-01-30 09:00 is gone');
  assert.ok(rows.some((row) => row.event_type === 'some.event'));
  const presence = await db.pool.query("SELECT status FROM realtime.presence WHERE user_id = 'idle'");
  assert.equal(presence.rows[0].status, 'online', 'presence is left alone');
  const none = await run('broadcast', 'cleanup');
  assert.equal(none.stdout, 'Deleted 0 messages older than 24 hours.\n');
});

test('broadcast --help documents the cleanup form', async () => {
  const help = await run('broadcast', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: nself realtime broadcast <channel> <event> <payload-json> \[sender\] {2}\(or: cleanup \[hours=24\]\)/);
  assert.match(help.stdout, /"broadcast cleanup \[hours\]" deletes messages older than hours/);
});
