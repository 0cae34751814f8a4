// The CLI under attack: data with terminal escape sequences is shown escaped, never written raw; names
// with control characters are refused; a payload the server would refuse is refused before it is stored.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realtime } from '../helpers/cli.js';
import { assertUserError, parseTable, snapshot } from './support.js';

let db: TestDatabase;
const run = (args: string[], input?: string, env?: Record<string, string>) =>
  realtime(args, { databaseUrl: db.url, ...(input === undefined ? {} : { input }), ...(env ? { env } : {}) });
before(async () => {
  db = await createTestDatabase({ migrated: true });
});
after(async () => {
  await db.drop();
});

/** Any character a terminal acts on instead of printing, but the line break. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;
const CLEAR_SCREEN = '\u001b[2J\u001b[H';
const FORGED_ROW = '\n evil | public | 0 | 0';

test('tables and JSON show control characters of names, events, user ids, metadata and payloads escaped', async () => {
  const {
    rows: [channel],
  } = await db.pool.query<{ id: string }>("INSERT INTO realtime.channels (slug, name, metadata) VALUES ('lobby', 'lobby', $1::jsonb) RETURNING id", [
    JSON.stringify({ note: `\u202egnp.exe${CLEAR_SCREEN}`, c1: '\u009b31m' }),
  ]);
  await db.pool.query('INSERT INTO realtime.channel_members (channel_id, user_id) VALUES ($1, $2)', [channel?.id, `mallory${CLEAR_SCREEN}${FORGED_ROW}`]);
  await db.pool.query('SELECT realtime.append_message($1, $2, $3::jsonb, $4)', [
    channel?.id,
    `evt${CLEAR_SCREEN}`,
    JSON.stringify({ text: `hi${CLEAR_SCREEN}\u0085\u2066` }),
    `sender\u0007`,
  ]);

  for (const args of [
    ['channel', 'list'],
    ['channel', 'get', 'lobby'],
    ['channel', 'members', 'lobby'],
    ['messages', 'lobby'],
    ['events', 'lobby'],
  ]) {
    const result = await run(args);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, RAW_CONTROL, `${args.join(' ')} wrote a raw control character`);
    parseTable(result.stdout);
  }
  const members = parseTable((await run(['channel', 'members', 'lobby'])).stdout);
  assert.equal(members.rows.length, 1, 'no forged row');
  assert.equal(members.rows[0]?.['user_id'], 'mallory\\x1b[2J\\x1b[H\\n evil | public | 0 | 0');
  const messages = parseTable((await run(['messages', 'lobby'])).stdout);
  assert.equal(messages.rows[0]?.['event_type'], 'evt\\x1b[2J\\x1b[H');
  assert.equal(messages.rows[0]?.['sender'], 'sender\\x07');
  assert.match(messages.rows[0]?.['payload'] ?? '', /\\u001b\[2J.*\\x85\\u2066/);
  assert.match((await run(['channel', 'get', 'lobby'])).stdout, /\\u202egnp\.exe\\u001b\[2J/);

  for (const args of [
    ['channel', 'list', '--format', 'json'],
    ['messages', 'lobby', 'json'],
    ['channel', 'members', 'lobby', 'json'],
  ]) {
    const result = await run(args);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, RAW_CONTROL, `${args.join(' ')} wrote a raw control character`);
    JSON.parse(result.stdout);
  }
  const json = JSON.parse((await run(['messages', 'lobby', 'json'])).stdout) as Array<{ payload: { text: string } }>;
  assert.equal(json[0]?.payload.text, `hi${CLEAR_SCREEN}\u0085\u2066`, 'the JSON value is unchanged');
});

test('a channel name with a control or bidirectional character is refused, naming the character and what is accepted', async () => {
  const before = await snapshot(db.pool);
  for (const [name, code, position] of [
    [`evil${CLEAR_SCREEN}`, 'U\\+001B', 5],
    ['file\u202etxt.exe', 'U\\+202E', 5],
    ['tab\u0085', 'U\\+0085', 4],
  ] as const) {
    const result = await run(['channel', 'create', name]);
    assertUserError(
      result,
      new RegExp(`channel name contains the control character ${code} at position ${position}; letters, digits, punctuation, symbols and spaces are accepted`),
    );
    assert.doesNotMatch(result.stderr, RAW_CONTROL);
  }
  assert.equal(await snapshot(db.pool), before);
});

test('broadcast refuses a payload over REALTIME_MAX_PAYLOAD_BYTES before touching the database', async () => {
  await run(['channel', 'create', 'bulk']);
  const before = await snapshot(db.pool);
  const huge = JSON.stringify({ blob: 'x'.repeat(20 * 1024 * 1024) });
  assertUserError(
    await run(['broadcast', 'bulk', 'big', '-'], huge),
    new RegExp(`payload is ${Buffer.byteLength(huge)} bytes, over the limit of 262144 bytes \\(REALTIME_MAX_PAYLOAD_BYTES\\); nothing was stored`),
  );
  assertUserError(
    await run(['broadcast', 'bulk', 'small', '{"text":"more than sixteen bytes"}'], undefined, { REALTIME_MAX_PAYLOAD_BYTES: '16' }),
    /payload is 34 bytes, over the limit of 16 bytes/,
  );
  assert.equal(await snapshot(db.pool), before);
  assert.equal((await run(['broadcast', 'bulk', 'ok', '{"text":"fits"}'])).code, 0);
});

test('JSON arguments the server would refuse are refused, naming the path and the problem: inexact numbers, deep nesting, NUL', async () => {
  await run(['channel', 'create', 'nums']);
  await run(['channel', 'create', 'vip', 'private']);
  const before = await snapshot(db.pool);
  assertUserError(
    await run(['broadcast', 'nums', 'n', '-'], '{"n":12345678901234567890,"d":1e400}'),
    /^error: payload\.n: number 12345678901234567890 has more precision than a 64-bit float keeps \(it would become 12345678901234567000\); send it as a string$/,
  );
  assertUserError(await run(['broadcast', 'nums', 'n', '{"d":1e400}']), /^error: payload\.d: number 1e400 is beyond the range of a 64-bit float; send it as a string$/);
  const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
  assertUserError(await run(['broadcast', 'nums', 'n', '-'], deep), /^error: payload\.a\.a\..*: nests deeper than 100 levels of arrays and objects$/);
  assertUserError(await run(['broadcast', 'nums', 'n', '-'], '['.repeat(5000)), /^error: payload is not valid JSON: it nests too deeply to say where$/);
  const twelve = '{"a":'.repeat(12) + '1' + '}'.repeat(12);
  assertUserError(await run(['broadcast', 'nums', 'n', twelve], undefined, { REALTIME_MAX_JSON_DEPTH: '10' }), /nests deeper than 10 levels/);
  assertUserError(await run(['channel', 'create', 'meta', 'public', '{"list":[1,{"big":1e999}]}']), /^error: metadata\.list\[1\]\.big: number 1e999 is beyond the range/);
  assertUserError(await run(['presence', 'track', 'alice', 'vip', 'online', '{"note":"a\\u0000b"}']), /^error: metadata\.note: string escape \\u0000 cannot be stored/);
  assert.equal(await snapshot(db.pool), before, 'nothing was stored');
  assert.equal((await run(['broadcast', 'nums', 'n', '{"n":"12345678901234567890","f":0.1,"i":9007199254740991}'])).code, 0);
  const { rows } = await db.pool.query<{ payload: unknown }>("SELECT m.payload FROM realtime.messages m JOIN realtime.channels c ON c.id = m.channel_id WHERE c.slug = 'nums'");
  assert.deepEqual(
    rows.map((row) => row.payload),
    [{ n: '12345678901234567890', f: 0.1, i: 9007199254740991 }],
  );
});
