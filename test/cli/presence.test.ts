// `nself realtime presence …` and `connections`: tracking, queries, stats, cleanup, and bad input.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { realtime } from '../helpers/cli.js';
import { assertUserError, parseTable, snapshot } from './support.js';

let db: TestDatabase;
const run = (...args: string[]) => realtime(args, { databaseUrl: db.url });
before(async () => {
  db = await createTestDatabase({ migrated: true });
  await db.pool.query(`INSERT INTO realtime.channels (slug, name, type) VALUES ('general', 'general', 'public'), ('game-lobby', 'game-lobby', 'presence')`);
});
after(async () => {
  await db.drop();
});

test('presence track records a status per channel, with metadata, and refreshes it', async () => {
  const online = await run('presence', 'track', 'user-123', 'general', 'online');
  assert.equal(online.code, 0, online.stderr);
  assert.equal(online.stdout, 'user-123 is online in channel "general".\n');
  const withMetadata = await run('presence', 'track', 'user-123', 'game-lobby', 'online', '{"level": 5, "score": 1000}');
  assert.equal(withMetadata.code, 0, withMetadata.stderr);
  const away = await run('presence', 'track', 'user-123', 'game-lobby', 'away');
  assert.equal(away.stdout, 'user-123 is away in channel "game-lobby".\n');
  const { rows } = await db.pool.query(`SELECT c.slug, p.status, p.metadata FROM realtime.presence p
                                          JOIN realtime.channels c ON c.id = p.channel_id WHERE p.user_id = 'user-123' ORDER BY c.slug`);
  assert.deepEqual(rows, [
    { slug: 'game-lobby', status: 'away', metadata: { level: 5, score: 1000 } },
    { slug: 'general', status: 'online', metadata: {} },
  ]);
});

test('presence track of the same user with no channel twice leaves one global row', async () => {
  const first = await run('presence', 'track', 'user-global');
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, 'user-global is online (global presence).\n');
  const second = await run('presence', 'track', 'user-global', '-', 'away', '{"device": "desktop"}');
  assert.equal(second.code, 0, second.stderr);
  const { rows } = await db.pool.query("SELECT channel_id, status, metadata FROM realtime.presence WHERE user_id = 'user-global'");
  assert.deepEqual(rows, [{ channel_id: null, status: 'away', metadata: { device: 'desktop' } }]);
});

test('presence get shows a user in one channel or everywhere, as a table or JSON', async () => {
  const one = await run('presence', 'get', 'user-123', 'general');
  assert.equal(one.code, 0, one.stderr);
  const table = parseTable(one.stdout);
  assert.deepEqual(table.columns, ['user_id', 'channel', 'status', 'metadata', 'last_seen_at', 'seconds_ago']);
  assert.deepEqual(
    table.rows.map((row) => [row.channel, row.status]),
    [['general', 'online']],
  );
  const everywhere = JSON.parse((await run('presence', 'get', 'user-123', 'json')).stdout);
  assert.deepEqual(
    everywhere.map((p: { channel: string }) => p.channel),
    ['game-lobby', 'general'],
  );
  assert.deepEqual(everywhere[0].metadata, { level: 5, score: 1000 });
  const inChannel = JSON.parse((await run('presence', 'get', 'user-123', 'general', 'json')).stdout);
  assert.equal(inChannel.length, 1);
  const global = JSON.parse((await run('presence', 'get', 'user-global', '--json')).stdout);
  assert.deepEqual(
    global.map((p: { channel: string | null; status: string }) => [p.channel, p.status]),
    [[null, 'away']],
  );
});

test("presence online lists present users (online and away) with the seed's columns, most recent first", async () => {
  await db.pool.query(`INSERT INTO realtime.presence (user_id, channel_id, status, metadata, last_seen_at)
                       SELECT 'user-456', id, 'away', '{"device": "desktop"}', now() - interval '305 seconds' FROM realtime.channels WHERE slug = 'general'`);
  await db.pool.query(`INSERT INTO realtime.presence (user_id, channel_id, status) SELECT 'user-gone', id, 'offline' FROM realtime.channels WHERE slug = 'general'`);
  const result = await run('presence', 'online', 'general');
  assert.equal(result.code, 0, result.stderr);
  const table = parseTable(result.stdout);
  assert.deepEqual(table.columns, ['user_id', 'channel', 'status', 'metadata', 'last_seen_at', 'seconds_ago']);
  assert.deepEqual(
    table.rows.map((row) => [row.user_id, row.channel, row.status, row.metadata]),
    [
      ['user-123', 'general', 'online', '{}'],
      ['user-456', 'general', 'away', '{"device": "desktop"}'],
    ],
  );
  assert.ok(Number(table.rows[1]?.seconds_ago) >= 305);
  const everywhere = JSON.parse((await run('presence', 'online', 'json')).stdout);
  assert.deepEqual(everywhere.map((p: { user_id: string }) => p.user_id).sort(), ['user-123', 'user-123', 'user-456', 'user-global']);
  assert.deepEqual(JSON.parse((await run('presence', 'online', 'general', '--format', 'json')).stdout).length, 2);
});

test('presence count counts present users in a channel or anywhere', async () => {
  assert.equal((await run('presence', 'count', 'general')).stdout, '2\n');
  assert.equal((await run('presence', 'count', 'game-lobby')).stdout, '1\n');
  assert.equal((await run('presence', 'count')).stdout, '3\n');
  assert.deepEqual(JSON.parse((await run('presence', 'count', 'general', 'json')).stdout), { channel: 'general', online: 2 });
});

test('presence stats counts each user once, by their most present status', async () => {
  const result = await run('presence', 'stats');
  assert.equal(result.code, 0, result.stderr);
  const table = parseTable(result.stdout);
  assert.deepEqual(table.columns, ['online', 'away', 'offline', 'total_users', 'total_channels']);
  // user-123 online (and away elsewhere), user-456 away, user-global away, user-gone offline; general and game-lobby.
  assert.deepEqual(table.rows, [{ online: '1', away: '2', offline: '1', total_users: '4', total_channels: '2' }]);
  assert.deepEqual(JSON.parse((await run('presence', 'stats', '--json')).stdout), [{ online: 1, away: 2, offline: 1, total_users: 4, total_channels: 2 }]);
});

test('presence offline sets a user offline in one channel, or everywhere', async () => {
  const one = await run('presence', 'offline', 'user-123', 'general');
  assert.equal(one.code, 0, one.stderr);
  assert.equal(one.stdout, 'user-123 is offline in channel "general".\n');
  const statuses = async () =>
    (
      await db.pool.query(
        "SELECT coalesce(c.slug, '-') AS slug, p.status FROM realtime.presence p LEFT JOIN realtime.channels c ON c.id = p.channel_id WHERE p.user_id = 'user-123' ORDER BY 1",
      )
    ).rows;
  assert.deepEqual(await statuses(), [
    { slug: 'game-lobby', status: 'away' },
    { slug: 'general', status: 'offline' },
  ]);
  await run('presence', 'track', 'user-123');
  const all = await run('presence', 'offline', 'user-123');
  assert.equal(all.stdout, 'user-123 is offline everywhere (3 presence rows).\n');
  assert.deepEqual(await statuses(), [
    { slug: '-', status: 'offline' },
    { slug: 'game-lobby', status: 'offline' },
    { slug: 'general', status: 'offline' },
  ]);
});

test('presence cleanup sets presence unseen for the timeout offline', async () => {
  await db.pool.query("UPDATE realtime.presence SET last_seen_at = now() - interval '400 seconds' WHERE user_id = 'user-global'");
  const kept = await run('presence', 'cleanup', '600');
  assert.equal(kept.stdout, 'Set 0 stale presence rows offline (unseen for 600 seconds).\n');
  const cleaned = await run('presence', 'cleanup');
  assert.equal(cleaned.code, 0, cleaned.stderr);
  // user-456 (305 s) and user-global (400 s) are past the default 300 seconds.
  assert.equal(cleaned.stdout, 'Set 2 stale presence rows offline (unseen for 300 seconds).\n');
  const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM realtime.presence WHERE status <> 'offline'");
  assert.equal(rows[0].n, 0);
});

test('bad presence input is refused with one line and writes nothing', async () => {
  const before = await snapshot(db.pool);
  assertUserError(await run('presence', 'track', 'user-1', 'general', 'busy'), /invalid status "busy"; expected one of: online, away, offline/);
  assertUserError(await run('presence', 'track', 'user-1', 'nowhere'), /unknown channel "nowhere"/);
  assertUserError(await run('presence', 'track', 'user-1', 'general', 'online', '{"level": 5'), /metadata is not valid JSON: unexpected end of input at position 11/);
  assertUserError(await run('presence', 'track', 'user-1', 'general', 'online', '5'), /metadata must be a JSON object/);
  assertUserError(
    await run('presence', 'track'),
    /missing required argument 'user'; usage: nself realtime presence track (\[options\] )?<user> \[channel\] \[status\] \[metadata-json\]/,
  );
  assertUserError(await run('presence', 'track', ''), /user id must not be empty/);
  assertUserError(await run('presence', 'get', 'nobody'), /no presence recorded for user "nobody"/);
  assertUserError(await run('presence', 'get', 'user-123', 'nowhere'), /unknown channel "nowhere"/);
  assertUserError(await run('presence', 'online', 'nowhere'), /unknown channel "nowhere"/);
  assertUserError(await run('presence', 'count', 'nowhere'), /unknown channel "nowhere"/);
  assertUserError(await run('presence', 'offline', 'nobody'), /no presence recorded for user "nobody"/);
  assertUserError(await run('presence', 'offline', 'nobody', 'general'), /no presence recorded for user "nobody" in channel "general"/);
  assertUserError(await run('presence', 'cleanup', '-300'), /timeout-seconds must be a number of at least 0, got "-300"/);
  assertUserError(await run('presence', 'cleanup', 'soon'), /timeout-seconds must be a number of at least 0, got "soon"/);
  assertUserError(await run('presence', 'stats', 'yaml'), /unexpected argument "yaml"/);
  assert.equal(await snapshot(db.pool), before);
});

test("connections lists the connected clients with the seed's columns; --all adds disconnected ones", async () => {
  await db.pool.query(`INSERT INTO realtime.connections (connection_id, user_id, server_id, status, connected_at, last_seen_at, disconnected_at) VALUES
    ('conn-abc-123', 'user-123', 'node-1', 'connected', now() - interval '10 minutes', now() - interval '45 seconds', NULL),
    ('conn-def-456', 'user-456', 'node-1', 'connected', now() - interval '15 minutes', now() - interval '345 seconds', NULL),
    ('conn-old-789', 'user-789', 'node-2', 'disconnected', now() - interval '1 hour', now() - interval '50 minutes', now() - interval '50 minutes')`);
  const result = await run('connections');
  assert.equal(result.code, 0, result.stderr);
  const table = parseTable(result.stdout);
  assert.deepEqual(table.columns, ['user_id', 'connection_id', 'status', 'connected_at', 'seconds_since_seen']);
  assert.deepEqual(
    table.rows.map((row) => [row.user_id, row.connection_id, row.status]),
    [
      ['user-123', 'conn-abc-123', 'connected'],
      ['user-456', 'conn-def-456', 'connected'],
    ],
  );
  assert.ok(Number(table.rows[0]?.seconds_since_seen) >= 45);
  const json = JSON.parse((await run('connections', '--json')).stdout);
  assert.deepEqual(
    json.map((c: { connection_id: string }) => c.connection_id),
    ['conn-abc-123', 'conn-def-456'],
  );
  assert.equal(json[0].server_id, 'node-1');
  const all = JSON.parse((await run('connections', '--all', 'json')).stdout);
  assert.equal(all.length, 3);
  assertUserError(await run('connections', 'csv'), /unexpected argument "csv"/);
});
