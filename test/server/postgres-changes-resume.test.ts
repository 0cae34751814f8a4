// Table changes that survive trouble: a killed feed connection mid-stream, a client that resumes by position, a server restart.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { caughtUp, LISTENER_APPLICATION_NAME } from '@nself/db';
import type { RunningServer } from '@nself/server';
import type { TestDatabase } from '../helpers/database.js';
import { RawClient, type Frame } from './raw-client.js';
import { subscribe, supabase } from './support.js';
import { createTestDatabase } from '../helpers/database.js';
import { startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

let db: TestDatabase;
let server: RunningServer;

before(async () => {
  db = await createTestDatabase({ migrated: true });
  server = await startTestServer(db);
  await db.pool.query(`
    CREATE TABLE stream (id int PRIMARY KEY, body text);
    CREATE TABLE events (id serial PRIMARY KEY, kind text NOT NULL);
  `);
});

after(async () => {
  await server?.close();
  await db?.drop();
});

const BINDING = { event: 'INSERT', schema: 'public', table: 'events' };

interface ChangeFrame {
  ids: number[];
  data: { type: string; table: string; record: { id: number; kind: string }; position: number };
}

/** The postgres_changes frames a raw client received, in order. */
function changesOf(client: RawClient, topic: string): ChangeFrame[] {
  return client.frames.filter((frame) => frame[2] === topic && frame[3] === 'postgres_changes').map((frame) => frame[4] as unknown as ChangeFrame);
}

/** The postgres_changes system messages a raw client received. */
function systemOf(client: RawClient, topic: string): Array<{ status: string; message: string }> {
  return client.frames.filter((frame: Frame) => frame[2] === topic && frame[3] === 'system').map((frame) => frame[4] as { status: string; message: string });
}

/** Joins `topic` with the events binding (and a resume position) and waits until events flow; returns the binding id. */
async function joinEvents(client: RawClient, topic: string, ref: string, resume?: number): Promise<number> {
  const reply = await client.join(topic, ref, {
    postgres_changes: [BINDING],
    ...(resume !== undefined ? { postgres_changes_resume: { position: resume } } : {}),
  });
  const response = reply[4] as { status: string; response: { postgres_changes: Array<{ id: number }> } };
  assert.equal(response.status, 'ok');
  await waitFor(() => systemOf(client, topic).some((message) => message.message === 'Subscribed to PostgreSQL'), 'Subscribed to PostgreSQL');
  return response.response.postgres_changes[0]?.id as number;
}

async function insertEvents(kinds: string[]): Promise<void> {
  for (const kind of kinds) await db.pool.query('INSERT INTO events (kind) VALUES ($1)', [kind]);
}

test('terminating the feed connection during a stream of inserts loses and repeats nothing', async () => {
  const client = supabase(server);
  const received: number[] = [];
  const system: string[] = [];
  try {
    const channel = client
      .channel('stream')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'stream' }, (payload) => received.push((payload.new as { id: number }).id))
      .on('system', {}, (payload) => system.push((payload as { message: string }).message));
    assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
    await waitFor(() => system.includes('Subscribed to PostgreSQL'), 'Subscribed to PostgreSQL');

    const total = 400;
    let terminated = 0;
    let writing = true;
    const killer = (async () => {
      while (writing) {
        await new Promise((resolve) => setTimeout(resolve, 120));
        const { rows } = await db.pool.query(
          `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`,
          [LISTENER_APPLICATION_NAME],
        );
        terminated += rows.filter((row) => row.done).length;
      }
    })();
    for (let id = 1; id <= total; id += 1) await db.pool.query('INSERT INTO stream VALUES ($1, $2)', [id, `row ${id}`]);
    writing = false;
    await killer;
    await waitFor(() => received.length >= total, `all ${total} inserts`, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(terminated >= 2, `the feed connection was terminated ${terminated} times`);
    assert.deepEqual(
      received,
      Array.from({ length: total }, (_, index) => index + 1),
      'every insert once, in order',
    );
  } finally {
    await client.removeAllChannels();
  }
});

test('each change carries its log position, and a client that rejoins from it gets what it missed, then live changes', async () => {
  const first = await RawClient.open(server);
  const id = await joinEvents(first, 'realtime:feed', '1');
  await insertEvents(['a', 'b', 'c']);
  await waitFor(() => changesOf(first, 'realtime:feed').length === 3, 'three changes');
  const seen = changesOf(first, 'realtime:feed');
  const frame = first.frames.find((candidate) => candidate[3] === 'postgres_changes') as Frame;
  assert.deepEqual([frame[0], frame[1]], [null, null], 'change frames carry no refs');
  assert.deepEqual(
    seen.map((change) => change.ids),
    [[id], [id], [id]],
    'ids are the binding id of the join reply',
  );
  const positions = seen.map((change) => change.data.position);
  assert.ok(
    positions.every((position, index) => index === 0 || position > (positions[index - 1] as number)),
    `positions grow: ${positions.join(', ')}`,
  );
  const last = positions.at(-1) as number;
  await first.close();

  await insertEvents(['missed 1', 'missed 2', 'missed 3', 'missed 4']);
  const second = await RawClient.open(server, 'vsn=1.0.0&apikey=dev');
  second.send({
    topic: 'realtime:feed',
    event: 'phx_join',
    ref: '1',
    join_ref: '1',
    payload: { config: { postgres_changes: [BINDING], postgres_changes_resume: { position: last } } },
  });
  await waitFor(() => v1Changes(second, 'realtime:feed').length === 4, 'the four missed changes, over vsn 1.0.0');
  await insertEvents(['live 1', 'live 2']);
  await waitFor(() => v1Changes(second, 'realtime:feed').length === 6, 'the missed and the live changes');
  await new Promise((resolve) => setTimeout(resolve, 300));
  const resumed = v1Changes(second, 'realtime:feed');
  assert.deepEqual(
    resumed.map((change) => change.data.record.kind),
    ['missed 1', 'missed 2', 'missed 3', 'missed 4', 'live 1', 'live 2'],
  );
  assert.equal(resumed[0]?.data.position, last + 1, 'no gap at the seam');
  assert.equal(new Set(resumed.map((change) => change.data.position)).size, 6, 'no duplicate');
  await second.close();
});

/** The changes of a vsn 1.0.0 connection, whose frames are objects rather than arrays. */
function v1Changes(client: RawClient, topic: string): ChangeFrame[] {
  return (client.frames as unknown as Array<{ topic: string; event: string; payload: ChangeFrame }>)
    .filter((frame) => frame.topic === topic && frame.event === 'postgres_changes')
    .map((frame) => frame.payload);
}

test('resuming from a position the log no longer retains says so, then continues from the oldest retained change', async () => {
  await insertEvents(['old 1', 'old 2']);
  const newest = await caughtUp(db.pool);
  await db.pool.query('DELETE FROM realtime.changes WHERE position <= $1', [Number(newest) - 1]);
  const client = await RawClient.open(server);
  await joinEvents(client, 'realtime:retained', '1', 0);
  const notice = systemOf(client, 'realtime:retained').find((message) => message.status === 'error');
  assert.equal(notice?.message, `ResumeUnavailable: table changes after position 0 are no longer retained; resuming from position ${Number(newest) - 1}`);
  await waitFor(() => changesOf(client, 'realtime:retained').length === 1, 'the oldest retained change');
  assert.equal(changesOf(client, 'realtime:retained')[0]?.data.record.kind, 'old 2');
  await client.close();
});

test('a resume position that is not a whole number is refused in the join reply', async () => {
  const client = await RawClient.open(server);
  const reply = await client.join('realtime:bad-resume', '1', { postgres_changes: [BINDING], postgres_changes_resume: { position: 'latest' } });
  assert.deepEqual(reply[4], { status: 'error', response: { reason: 'InvalidResume: postgres_changes_resume.position must be a whole number of 0 or more' } });
  await client.close();
});

test('changes committed while the server was down arrive when a client resumes on the restarted server', async () => {
  const client = await RawClient.open(server);
  await joinEvents(client, 'realtime:restart', '1');
  await insertEvents(['before']);
  await waitFor(() => changesOf(client, 'realtime:restart').length === 1, 'the change before the restart');
  const last = changesOf(client, 'realtime:restart')[0]?.data.position as number;
  await server.close();
  await insertEvents(['while down 1', 'while down 2']);
  server = await startTestServer(db);
  const again = await RawClient.open(server);
  await joinEvents(again, 'realtime:restart', '1', last);
  await waitFor(() => changesOf(again, 'realtime:restart').length === 2, 'the changes made while the server was down');
  assert.deepEqual(
    changesOf(again, 'realtime:restart').map((change) => change.data.record.kind),
    ['while down 1', 'while down 2'],
  );
  await again.close();
});
