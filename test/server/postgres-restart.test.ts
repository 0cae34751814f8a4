// PostgreSQL restarted mid-stream: table changes resume from the slot (or the triggers' log) with nothing lost or repeated.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { RunningServer } from '@nself/server';
import { adminUrl, type TestDatabase, createTestDatabase } from '../helpers/database.js';
import { watchChanges } from './postgres-changes-support.js';
import { supabase } from './support.js';
import { startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/** The machine's own cluster, when the suite runs against it: the one PostgreSQL a test may restart. */
function localCluster(): { version: string; name: string } | undefined {
  const url = new URL(adminUrl());
  if (url.hostname !== '127.0.0.1' || url.port !== '5432' || !existsSync('/etc/postgresql')) return undefined;
  const version = readdirSync('/etc/postgresql')[0];
  return version ? { version, name: 'main' } : undefined;
}

let db: TestDatabase;
let server: RunningServer;
const cluster = localCluster();

before(async () => {
  if (!cluster) return;
  db = await createTestDatabase({ migrated: true });
  await db.pool.query('CREATE TABLE ticks (id int PRIMARY KEY)');
  server = await startTestServer(db);
});
after(async () => {
  await server?.close();
  await db?.drop();
});

test('PostgreSQL restarted while rows are written: the subscriber gets every committed row once, in order', async (t) => {
  if (!cluster) return t.skip("the suite does not run against the machine's own PostgreSQL (127.0.0.1:5432), the one a test may restart");
  const client = supabase(server);
  const writer = new pg.Pool({ connectionString: db.url, max: 1 });
  writer.on('error', () => undefined);
  try {
    const watched = await watchChanges(client, 'ticks', [{ event: 'INSERT', schema: 'public', table: 'ticks' }]);
    const total = 300;
    for (let id = 1; id <= total; id += 1) {
      if (id === 100) {
        const restarted: SpawnSyncReturns<string> = spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', cluster.version, cluster.name, 'restart'], { encoding: 'utf8' });
        assert.equal(restarted.status, 0, restarted.stderr);
      }
      // A write cut by the restart is tried again; ON CONFLICT keeps one that did commit from counting twice.
      await waitFor(
        async () =>
          writer.query('INSERT INTO ticks VALUES ($1) ON CONFLICT DO NOTHING', [id]).then(
            () => true,
            () => false,
          ),
        `insert ${id}`,
        30_000,
      );
    }
    await waitFor(() => watched.changes.length >= total || undefined, `all ${total} rows`, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(
      watched.changes.map((change) => (change.new as { id: number }).id),
      Array.from({ length: total }, (_, i) => i + 1),
    );
  } finally {
    await writer.end();
    await client.removeAllChannels();
  }
});
