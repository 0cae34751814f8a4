// The seed's table change examples (`realtime:table:<schema>.<table>` channels) against the real server and PostgreSQL.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { TableChange } from '@nself/client';
import { realtimeSuite, runCommand, subscribed, waitFor } from './support.js';

const suite = realtimeSuite();
const UNAVAILABLE = /postgres_changes subscriptions are not available on this server/;
const newClient = () => suite.client({ apiKey: 'your-api-key' });

/**
 * Whether the server delivers table changes. When it does not, the user must see the server's
 * reason as the channel's CHANNEL_ERROR (asserted here); the delivery checks then cannot run.
 */
async function tableChangesAvailable(t: TestContext, table: string): Promise<boolean> {
  const probe = newClient();
  const outcome = await new Promise<{ status: string; message: string }>((resolve) => {
    probe.channel(`realtime:table:${table}`).on('*', () => undefined).subscribe((status, error) => {
      if (status === 'SUBSCRIBED' || status === 'CHANNEL_ERROR') resolve({ status, message: error?.message ?? '' });
    });
  });
  await probe.disconnect();
  if (outcome.status === 'SUBSCRIBED') return true;
  assert.match(outcome.message, UNAVAILABLE, `the join failed for another reason: ${outcome.message}`);
  assert.match(outcome.message, new RegExp(`^joining "realtime:table:${table.replace('.', '\\.')}": `));
  t.diagnostic(`this server build does not deliver postgres_changes; only the error the client reports was checked`);
  return false;
}

test('Client SDK example: INSERT, UPDATE and DELETE of public.users reach the callbacks with new and old rows', async (t) => {
  await suite.server.db.pool.query('CREATE TABLE public.users (id text PRIMARY KEY, email text NOT NULL)');
  await runCommand('ɳSelf realtime subscribe public.users', suite.server.db.url);
  if (!(await tableChangesAvailable(t, 'public.users'))) return;
  const client = newClient();
  const seen: string[] = [];

  // Subscribe to table changes
  const subscription = client
    .channel('realtime:table:public.users')
    .on('INSERT', (payload) => {
      seen.push(`New user: ${payload.new.email}`);
    })
    .on('UPDATE', (payload) => {
      seen.push(`Updated user: ${payload.new.email}`);
    })
    .on('DELETE', (payload) => {
      seen.push(`Deleted user: ${payload.old.id}`);
    })
    .subscribe();
  await subscribed(subscription);

  await suite.server.db.pool.query("INSERT INTO public.users VALUES ('user-123', 'john@example.com')");
  await suite.server.db.pool.query("UPDATE public.users SET email = 'john.doe@example.com' WHERE id = 'user-123'");
  await suite.server.db.pool.query("DELETE FROM public.users WHERE id = 'user-123'");
  await waitFor('three table changes', () => seen.length === 3);
  assert.deepEqual(seen, ['New user: john@example.com', 'Updated user: john.doe@example.com', 'Deleted user: user-123']);
});

test('Live Dashboard: alerts broadcast from the CLI, and metrics table changes', async (t) => {
  await suite.server.db.pool.query('CREATE TABLE public.metrics (name text PRIMARY KEY, value numeric)');
  await suite.server.db.pool.query('CREATE TABLE public.events (id serial PRIMARY KEY, kind text)');
  const charted: unknown[] = [];
  const refreshed: unknown[] = [];
  const notifications: unknown[] = [];
  const client = newClient();
  const tables = await tableChangesAvailable(t, 'public.metrics');

  const setupDashboard = async () => {
    // Subscribe to metrics tables
    await runCommand('ɳSelf realtime subscribe public.metrics', suite.server.db.url);
    await runCommand('ɳSelf realtime subscribe public.events', suite.server.db.url);
    // Listen for updates
    const metricsChannel = tables ? client.channel('realtime:table:public.metrics') : undefined;
    metricsChannel?.on('INSERT', (payload: TableChange<{ name: string; value: number }>) => {
      charted.push(payload.new);
    });
    metricsChannel?.on('UPDATE', (payload: TableChange<{ name: string; value: number }>) => {
      refreshed.push(payload.new);
    });
    // Subscribe to alert channel
    const alertChannel = client.channel('system-alerts');
    alertChannel.on('alert', (payload) => {
      notifications.push(payload);
    });
    return { metricsChannel, alertChannel };
  };

  const { metricsChannel, alertChannel } = await setupDashboard();
  await Promise.all([subscribed(alertChannel), metricsChannel && subscribed(metricsChannel)]);
  await runCommand(`ɳSelf realtime broadcast system-alerts alert '{"level": "critical", "text": "CPU high"}'`, suite.server.db.url);
  await waitFor('the notification', () => notifications.length === 1);
  assert.deepEqual(notifications, [{ level: 'critical', text: 'CPU high' }]);
  if (!tables) return;

  await suite.server.db.pool.query("INSERT INTO public.metrics VALUES ('cpu', 42.5)");
  await suite.server.db.pool.query("UPDATE public.metrics SET value = 77 WHERE name = 'cpu'");
  await waitFor('chart and refresh', () => charted.length === 1 && refreshed.length === 1);
  assert.deepEqual(charted, [{ name: 'cpu', value: 42.5 }]);
  assert.deepEqual(refreshed, [{ name: 'cpu', value: 77 }]);
});
