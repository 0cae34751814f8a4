// `nself realtime listen <channel>`: a channel's broadcasts from every source printed live, in offset order, each once,
// and with --from the stored ones first; where it stopped is said so that the next run continues there.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { appendMessage, createChannel } from '@nself/db';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startCli } from './listening-cli.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase({ migrated: true });
});
after(async () => {
  await db.drop();
});

test('listen <channel> prints messages stored after it started, in order, as JSON lines with --json; stopping says where to continue', async () => {
  const channel = await createChannel(db.pool, { name: 'listened' });
  await appendMessage(db.pool, { channelId: channel.id, event: 'before', payload: { n: 0 } });
  const cli = startCli(['listen', 'listened', '--json'], db.url);
  try {
    await cli.waitForOutput(/Listening to channel "listened" after offset 1 \(Ctrl\+C to stop\)\./, 'stderr');
    for (let n = 1; n <= 5; n++) await appendMessage(db.pool, { channelId: channel.id, event: 'chat', payload: { n }, sender: 'ann' });
    await db.pool.query(`SELECT realtime.broadcast('listened', 'from-sql', '{"from": "sql"}')`);
    await cli.waitForOutput(/"from-sql"/);
    const lines = cli
      .stdout()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { offset: number; event: string; sender: string | null });
    assert.deepEqual(
      lines.map((line) => line.offset),
      [2, 3, 4, 5, 6, 7],
    );
    assert.deepEqual(lines[0], { ...lines[0], event: 'chat', sender: 'ann' });
  } finally {
    cli.child.kill('SIGINT');
  }
  assert.equal(await cli.exit, 0);
  assert.match(cli.stderr(), /Stopped after offset 7; continue with --from 7\./);
});

test('listen <channel> --from 0 prints the kept log first, then new messages; human lines without --json', async () => {
  const channel = await createChannel(db.pool, { name: 'replayed' });
  for (const event of ['first', 'second']) await appendMessage(db.pool, { channelId: channel.id, event, payload: { event } });
  const cli = startCli(['listen', 'replayed', '--from', '0'], db.url);
  try {
    await cli.waitForOutput(/second/);
    await appendMessage(db.pool, { channelId: channel.id, event: 'third', payload: { event: 'third' }, sender: 'bob' });
    await cli.waitForOutput(/third/);
    const lines = cli.stdout().trim().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0] ?? '', /^1 {2}\d{4}-\d{2}-\d{2}T[\d:.]+Z {2}first {2}\{"event":"first"\}$/);
    assert.match(lines[2] ?? '', /^3 {2}.+ {2}third {2}from bob {2}\{"event":"third"\}$/);
  } finally {
    cli.child.kill('SIGINT');
  }
  assert.equal(await cli.exit, 0);
});

test('listen on a name that is neither a subscribed table nor a channel says so in one line', async () => {
  const cli = startCli(['listen', 'nowhere at all', '1'], db.url);
  assert.equal(await cli.exit, 1);
  assert.equal(cli.stderr(), 'error: no subscribed table or channel "nowhere at all"; give schema.table of a subscribed table, or a channel\'s slug or id\n');
});
