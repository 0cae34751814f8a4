// `nself realtime channel …`: create, list, get, delete, members, join, leave, against real PostgreSQL.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realtime, REPO_ROOT } from '../helpers/cli.js';
import { assertUserError, parseTable, snapshot } from './support.js';

let db: TestDatabase;
const run = (...args: string[]) => realtime(args, { databaseUrl: db.url });
before(async () => {
  db = await createTestDatabase({ migrated: true });
});
after(async () => {
  await db.drop();
});

test('channel create makes public, private and presence channels and says so', async () => {
  for (const [name, type] of [
    ['general', 'public'],
    ['support', 'private'],
    ['lobby', 'presence'],
  ]) {
    const result = await run('channel', 'create', name as string, type as string);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^Created ${type} channel "${name}" \\(slug ${name}, id [0-9a-f-]{36}\\)\\.\\n$`));
  }
  const defaulted = await run('channel', 'create', 'Team Alpha');
  assert.equal(defaulted.code, 0, defaulted.stderr);
  const { rows } = await db.pool.query('SELECT slug, name, type, metadata FROM realtime.channels ORDER BY created_at');
  assert.deepEqual(rows, [
    { slug: 'general', name: 'general', type: 'public', metadata: {} },
    { slug: 'support', name: 'support', type: 'private', metadata: {} },
    { slug: 'lobby', name: 'lobby', type: 'presence', metadata: {} },
    { slug: 'team-alpha', name: 'Team Alpha', type: 'public', metadata: {} },
  ]);
});

test('channel create stores metadata JSON, and --json prints the new channel', async () => {
  const result = await run('channel', 'create', 'helpdesk', 'private', '{"max_members": 10}', '--json');
  assert.equal(result.code, 0, result.stderr);
  const printed = JSON.parse(result.stdout);
  assert.equal(printed.slug, 'helpdesk');
  assert.equal(printed.type, 'private');
  assert.deepEqual(printed.metadata, { max_members: 10 });
  assert.match(printed.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  const { rows } = await db.pool.query("SELECT id, metadata FROM realtime.channels WHERE slug = 'helpdesk'");
  assert.equal(rows[0].id, printed.id);
  assert.deepEqual(rows[0].metadata, { max_members: 10 });
});

test('names with quotes, spaces, unicode and SQL text are stored as data', async () => {
  const names = [`Robert'); DROP TABLE realtime.channels;--`, 'Café "Zürich" 🎉', 'room:1', 'room1', 'chat.room_1', 'doc-42'];
  for (const name of names) {
    const result = await run('channel', 'create', name);
    assert.equal(result.code, 0, `${name}: ${result.stderr}`);
  }
  const { rows } = await db.pool.query('SELECT slug, name FROM realtime.channels WHERE name = ANY($1) ORDER BY created_at', [names]);
  assert.deepEqual(rows, [
    { slug: 'robert-drop-table-realtime.channels--', name: names[0] },
    { slug: 'café-zürich', name: names[1] },
    { slug: 'room:1', name: 'room:1' },
    { slug: 'room1', name: 'room1' },
    { slug: 'chat.room_1', name: 'chat.room_1' },
    { slug: 'doc-42', name: 'doc-42' },
  ]);
  const got = await run('channel', 'get', 'café-zürich', '--json');
  assert.equal(got.code, 0, got.stderr);
  assert.equal(JSON.parse(got.stdout).name, 'Café "Zürich" 🎉');
  const byName = await run('channel', 'get', 'Café "Zürich" 🎉', 'json');
  assert.equal(JSON.parse(byName.stdout).slug, 'café-zürich');
});

test('channel list lines up wide characters as a terminal shows them: CJK and emoji take two columns, combining marks none', async () => {
  const names = ['日本語のチャンネル', '家族 👨‍👩‍👧 room', 'cafe\u0301 ☕', '한국어'];
  for (const name of names) assert.equal((await run('channel', 'create', name)).code, 0, name);
  const table = parseTable((await run('channel', 'list')).stdout);
  for (const name of names) {
    assert.ok(
      table.rows.some((row) => row.name === name),
      `${name} in its cell`,
    );
  }
});

test("channel list prints the seed's columns, aligned, and filters by type", async () => {
  await db.pool.query(`INSERT INTO realtime.channel_members (channel_id, user_id)
                       SELECT id, u FROM realtime.channels, unnest(ARRAY['user-1', 'user-2']) u WHERE slug = 'general'`);
  await db.pool.query(`INSERT INTO realtime.presence (user_id, channel_id, status)
                       SELECT 'user-1', id, 'online' FROM realtime.channels WHERE slug = 'general'`);
  const all = await run('channel', 'list');
  assert.equal(all.code, 0, all.stderr);
  const table = parseTable(all.stdout);
  assert.deepEqual(table.columns, ['id', 'slug', 'name', 'type', 'members', 'online', 'created_at']);
  const general = table.rows.find((row) => row.slug === 'general');
  assert.equal(general?.members, '2');
  assert.equal(general?.online, '1');
  assert.match(general?.created_at ?? '', /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$/, 'in UTC, marked Z');
  const privateOnly = parseTable((await run('channel', 'list', 'private')).stdout);
  assert.deepEqual(
    privateOnly.rows.map((row) => row.slug),
    ['support', 'helpdesk'],
  );
});

test('channel list prints JSON with --json, --format json and a trailing json word', async () => {
  const outputs = await Promise.all([
    run('channel', 'list', '--json'),
    run('channel', 'list', '--format', 'json'),
    run('channel', 'list', 'json'),
    run('channel', 'list', 'presence', 'json'),
  ]);
  for (const output of outputs) assert.equal(output.code, 0, output.stderr);
  const [flag, format, word, filtered] = outputs.map((output) => JSON.parse(output.stdout));
  assert.deepEqual(format, flag);
  assert.deepEqual(word, flag);
  assert.deepEqual(
    filtered.map((channel: { slug: string }) => channel.slug),
    ['lobby'],
  );
  const general = flag.find((channel: { slug: string }) => channel.slug === 'general');
  for (const key of ['id', 'slug', 'name', 'type', 'members', 'online', 'created_at']) assert.ok(key in general, key);
  assert.equal(general.members, 2);
});

test('channel get finds a channel by slug and by id', async () => {
  const { rows } = await db.pool.query("SELECT id::text FROM realtime.channels WHERE slug = 'support'");
  const bySlug = await run('channel', 'get', 'support');
  assert.equal(bySlug.code, 0, bySlug.stderr);
  const table = parseTable(bySlug.stdout);
  assert.equal(table.rows.length, 1);
  assert.equal(table.rows[0]?.id, rows[0].id);
  assert.equal(table.rows[0]?.type, 'private');
  const byId = await run('channel', 'get', rows[0].id, '--json');
  assert.equal(JSON.parse(byId.stdout).slug, 'support');
});

test('bad channel input is refused with one line and writes nothing', async () => {
  const before = await snapshot(db.pool);
  assertUserError(await run('channel', 'create', 'x', 'secret'), /invalid channel type "secret"; expected one of: public, private, presence/);
  assertUserError(await run('channel', 'create', 'x', 'public', '{"max_members": 10'), /metadata is not valid JSON: .*position 18/);
  assertUserError(await run('channel', 'create', 'x', 'public', '{"a": 1,}'), /metadata is not valid JSON: .*at position 8/);
  assertUserError(await run('channel', 'create', 'x', 'public', '[1, 2]'), /metadata must be a JSON object/);
  assertUserError(await run('channel', 'create', 'general'), /a channel with slug "general" already exists/);
  assertUserError(await run('channel', 'create', 'GENERAL'), /a channel with slug "general" already exists/);
  assertUserError(await run('channel', 'create', '!!!'), /channel name "!!!" leaves nothing for a slug/);
  assertUserError(await run('channel', 'create', '€'.repeat(100)), /channel name is 300 bytes in UTF-8; at most 246 bytes are accepted/);
  assertUserError(await run('channel', 'create'), /missing required argument 'name'; usage: nself realtime channel create .*<name> \[type\] \[metadata-json\]/);
  assertUserError(await run('channel', 'get', 'nowhere'), /unknown channel "nowhere"/);
  assertUserError(await run('channel', 'list', 'secret'), /invalid channel type "secret"/);
  assertUserError(await run('channel', 'list', '--format', 'xml'), /invalid output format "xml"; expected one of: json, table/);
  assertUserError(await run('channel', 'join', 'general', 'user-9', 'owner'), /invalid role "owner"; expected one of: member, moderator, admin/);
  assertUserError(await run('channel', 'join', 'nowhere', 'user-9'), /unknown channel "nowhere"/);
  assertUserError(await run('channel', 'join', 'general'), /missing required argument 'user'/);
  assertUserError(await run('channel', 'leave', 'general', 'user-9'), /user "user-9" is not a member of channel "general"/);
  assertUserError(await run('channel', 'members', 'nowhere'), /unknown channel "nowhere"/);
  assertUserError(await run('channel', 'delete', 'general', 'yes'), /invalid confirmation "yes"; pass "true"/);
  assertUserError(await run('channel', 'delete', 'nowhere', 'true'), /unknown channel "nowhere"/);
  assert.equal(await snapshot(db.pool), before);
});

test('channel join adds members with roles, changes a role, and members lists them', async () => {
  const joined = await run('channel', 'join', 'support', 'user-123');
  assert.equal(joined.stdout, 'Added user-123 to channel "support" as member.\n');
  assert.equal((await run('channel', 'join', 'support', 'user-456', 'moderator')).code, 0);
  assert.equal((await run('channel', 'join', 'support', 'user-789', 'admin')).code, 0);
  const again = await run('channel', 'join', 'support', 'user-123');
  assert.equal(again.stdout, 'user-123 is already a member of channel "support".\n');
  const promoted = await run('channel', 'join', 'support', 'user-123', 'admin');
  assert.equal(promoted.stdout, 'Changed the role of user-123 in channel "support" from member to admin.\n');
  const members = parseTable((await run('channel', 'members', 'support')).stdout);
  assert.deepEqual(members.columns, ['user_id', 'role', 'joined_at', 'status']);
  assert.deepEqual(
    members.rows.map((row) => [row.user_id, row.role]),
    [
      ['user-123', 'admin'],
      ['user-456', 'moderator'],
      ['user-789', 'admin'],
    ],
  );
  const json = JSON.parse((await run('channel', 'members', 'support', 'json')).stdout);
  assert.equal(json.length, 3);
});

test('channel leave removes a member', async () => {
  const left = await run('channel', 'leave', 'support', 'user-456');
  assert.equal(left.code, 0, left.stderr);
  assert.equal(left.stdout, 'Removed user-456 from channel "support".\n');
  const { rows } = await db.pool.query("SELECT user_id FROM realtime.channel_members m JOIN realtime.channels c ON c.id = m.channel_id WHERE c.slug = 'support' ORDER BY 1");
  assert.deepEqual(
    rows.map((row) => row.user_id),
    ['user-123', 'user-789'],
  );
});

test("max_members caps a channel's members on every way in: the CLI says the channel is full, a role change still works, racing inserts leave exactly the cap", async () => {
  assert.equal((await run('channel', 'create', 'small-room', 'private', '{"max_members": 2}')).code, 0);
  for (const user of ['ann', 'bob']) assert.equal((await run('channel', 'join', 'small-room', user)).code, 0);
  assertUserError(
    await run('channel', 'join', 'small-room', 'carl'),
    /^error: channel "small-room" is full: it has 2 members and its max_members is 2; remove a member \(nself realtime channel leave\) or raise max_members in the channel's metadata$/,
  );
  const promoted = await run('channel', 'join', 'small-room', 'bob', 'moderator');
  assert.equal(promoted.code, 0, promoted.stderr);
  assert.match(promoted.stdout, /from member to moderator/);
  assert.equal((await run('channel', 'leave', 'small-room', 'ann')).code, 0);
  assert.equal((await run('channel', 'join', 'small-room', 'carl')).code, 0, 'a place freed is taken');

  // Ten inserts at once by SQL into a channel capped at three.
  const {
    rows: [channel],
  } = await db.pool.query(`INSERT INTO realtime.channels (slug, name, type, metadata) VALUES ('race-room', 'race-room', 'private', '{"max_members": 3}') RETURNING id`);
  const outcomes = await Promise.allSettled(
    Array.from({ length: 10 }, (_, index) => db.pool.query('INSERT INTO realtime.channel_members (channel_id, user_id) VALUES ($1, $2)', [channel.id, `racer-${index}`])),
  );
  assert.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 3);
  const {
    rows: [count],
  } = await db.pool.query('SELECT count(*)::int AS n FROM realtime.channel_members WHERE channel_id = $1', [channel.id]);
  assert.equal(count.n, 3);
});

test('a max_members that is not a whole number of 1 or more is refused at creation, naming the value', async () => {
  for (const bad of ['"ten"', '0', '2.5', '-1']) {
    assertUserError(
      await run('channel', 'create', `bad-cap-${bad.length}`, 'private', `{"max_members": ${bad}}`),
      new RegExp(`channel metadata "max_members" is ${bad.replace(/[.+]/g, '\\$&')}; it must be a whole number of members, 1 or more`),
    );
  }
  const { rows } = await db.pool.query("SELECT 1 FROM realtime.channels WHERE slug LIKE 'bad-cap-%'");
  assert.equal(rows.length, 0);
});

test('channel delete refuses without a terminal, and deletes with "true" or --yes', async () => {
  await db.pool.query(`SELECT realtime.broadcast('lobby', 'x', '{}')`);
  const refused = await run('channel', 'delete', 'lobby');
  assertUserError(refused, /refusing to delete channel "lobby" without confirmation; run `nself realtime channel delete lobby true`/);
  assert.equal((await db.pool.query("SELECT 1 FROM realtime.channels WHERE slug = 'lobby'")).rowCount, 1);
  const deleted = await run('channel', 'delete', 'lobby', 'true');
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(deleted.stdout, 'Deleted channel "lobby" with 1 messages and 0 members.\n');
  assert.equal((await db.pool.query("SELECT 1 FROM realtime.channels WHERE slug = 'lobby'")).rowCount, 0);
  assert.equal((await run('channel', 'delete', 'helpdesk', '--yes')).code, 0);
  assert.equal((await db.pool.query("SELECT 1 FROM realtime.channels WHERE slug = 'helpdesk'")).rowCount, 0);
});

/** Runs `channel delete <slug>` on a pseudo-terminal (util-linux `script`) and answers its question. */
function deleteOnTerminal(slug: string, answer: string): Promise<{ code: number | null; output: string }> {
  const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(REPO_ROOT, 'packages/cli/bin/nself.js'))} realtime channel delete ${slug}`;
  const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...process.env, DATABASE_URL: db.url }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let answered = false;
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (!answered && output.includes('[y/N]')) {
      answered = true;
      child.stdin.write(`${answer}\n`);
    }
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

test('channel delete asks on a terminal and deletes only on yes', async () => {
  await run('channel', 'create', 'asked');
  const kept = await deleteOnTerminal('asked', 'n');
  assert.equal(kept.code, 0, kept.output);
  assert.match(kept.output, /Delete channel "asked" with 0 messages and 0 members\? \[y\/N\]/);
  assert.match(kept.output, /Cancelled: channel "asked" was kept\./);
  assert.equal((await db.pool.query("SELECT 1 FROM realtime.channels WHERE slug = 'asked'")).rowCount, 1);
  const deleted = await deleteOnTerminal('asked', 'y');
  assert.equal(deleted.code, 0, deleted.output);
  assert.match(deleted.output, /Deleted channel "asked" with 0 messages and 0 members\./);
  assert.equal((await db.pool.query("SELECT 1 FROM realtime.channels WHERE slug = 'asked'")).rowCount, 0);
});

test('a data command on an unreachable database names it, without the password', async () => {
  const result = await realtime(['channel', 'list'], { databaseUrl: 'postgres://someone:hunter2@127.0.0.1:1/appdb' });
  assertUserError(result, /^error: cannot connect to PostgreSQL at 127\.0\.0\.1:1, database "appdb"/);
  assert.doesNotMatch(result.stderr, /hunter2/);
});

test('a database without the realtime schema is refused with the way to install it', async () => {
  const empty = await createTestDatabase();
  try {
    assertUserError(await realtime(['channel', 'list'], { databaseUrl: empty.url }), /the realtime schema is not installed; run `nself realtime init` first/);
  } finally {
    await empty.drop();
  }
});

test('--help of the channel group and of a command shows examples', async () => {
  const group = await run('channel', '--help');
  assert.equal(group.code, 0);
  for (const name of ['create', 'list', 'get', 'delete', 'members', 'join', 'leave']) assert.match(group.stdout, new RegExp(`\\n  ${name} `));
  const create = await run('channel', 'create', '--help');
  assert.match(create.stdout, /Examples:\n {2}\$ nself realtime channel create "general" public/);
});

test('channel update changes the type and/or the metadata, checking both', async () => {
  assert.equal((await run('channel', 'create', 'adjustable', 'public')).code, 0);
  const typed = await run('channel', 'update', 'adjustable', 'private');
  assert.equal(typed.code, 0, typed.stderr);
  assert.equal(typed.stdout, 'Updated channel "adjustable": type private.\n');
  const both = await run('channel', 'update', 'adjustable', 'presence', '{"max_members": 20}');
  assert.equal(both.stdout, 'Updated channel "adjustable": type presence and metadata {"max_members":20}.\n');
  const metadataOnly = await run('channel', 'update', 'adjustable', '{"retention_hours": 72}');
  assert.equal(metadataOnly.code, 0, metadataOnly.stderr);
  const { rows } = await db.pool.query("SELECT type, metadata FROM realtime.channels WHERE slug = 'adjustable'");
  assert.deepEqual(rows, [{ type: 'presence', metadata: { retention_hours: 72 } }]);
  assertUserError(await run('channel', 'update', 'adjustable', 'secret'), /channel type/);
  assertUserError(await run('channel', 'update', 'adjustable', '{"max_members": -3}'), /"max_members" is -3; it must be a whole number of members, 1 or more/);
  assertUserError(await run('channel', 'update', 'adjustable'), /give a type \(public, private, presence\), metadata JSON, or both/);
});
