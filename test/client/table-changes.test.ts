// The seed's table change examples (`realtime:table:<schema>.<table>` channels) against the real server and PostgreSQL.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TableChange } from '@nself/client';
import { realtimeSuite, runCommand, subscribed } from './support.js';
import { waitFor } from '../helpers/wait.js';

const suite = realtimeSuite();
const newClient = () => suite.client({ apiKey: 'your-api-key' });

test('Client SDK example: INSERT, UPDATE and DELETE of public.users reach the callbacks with new and old rows', async () => {
  await suite.server.db.pool.query('CREATE TABLE public.users (id text PRIMARY KEY, email text NOT NULL)');
  await runCommand('ɳSelf realtime subscribe public.users', suite.server.db.url);
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
  await waitFor(
    () => seen.length === 3,
    () => `three table changes (seen: ${JSON.stringify(seen)})`,
  );
  assert.deepEqual(seen, ['New user: john@example.com', 'Updated user: john.doe@example.com', 'Deleted user: user-123']);
});

test('Live Dashboard: metrics table changes, and alerts broadcast from the CLI', async () => {
  await suite.server.db.pool.query('CREATE TABLE public.metrics (name text PRIMARY KEY, value numeric)');
  await suite.server.db.pool.query('CREATE TABLE public.events (id serial PRIMARY KEY, kind text)');
  const charted: unknown[] = [];
  const refreshed: unknown[] = [];
  const notifications: unknown[] = [];
  const client = newClient();

  const setupDashboard = async () => {
    // Subscribe to metrics tables
    await runCommand('ɳSelf realtime subscribe public.metrics', suite.server.db.url);
    await runCommand('ɳSelf realtime subscribe public.events', suite.server.db.url);
    // Listen for updates
    const metricsChannel = client.channel('realtime:table:public.metrics');
    metricsChannel.on('INSERT', (payload: TableChange<{ name: string; value: number }>) => {
      charted.push(payload.new);
    });
    metricsChannel.on('UPDATE', (payload: TableChange<{ name: string; value: number }>) => {
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
  await Promise.all([subscribed(alertChannel), subscribed(metricsChannel)]);
  await runCommand(`ɳSelf realtime broadcast system-alerts alert '{"level": "critical", "text": "CPU high"}'`, suite.server.db.url);
  await waitFor(() => notifications.length === 1, 'the notification');
  assert.deepEqual(notifications, [{ level: 'critical', text: 'CPU high' }]);

  await suite.server.db.pool.query("INSERT INTO public.metrics VALUES ('cpu', 42.5)");
  await suite.server.db.pool.query("UPDATE public.metrics SET value = 77 WHERE name = 'cpu'");
  await waitFor(() => charted.length === 1 && refreshed.length === 1, 'chart and refresh');
  assert.deepEqual(charted, [{ name: 'cpu', value: 42.5 }]);
  assert.deepEqual(refreshed, [{ name: 'cpu', value: 77 }]);
});

test('table changes made while the server was down arrive after the reconnect, once each', async () => {
  await suite.server.db.pool.query('CREATE TABLE public.items (id int PRIMARY KEY, name text)');
  await runCommand('ɳSelf realtime subscribe public.items', suite.server.db.url);
  const client = newClient();
  const names: string[] = [];
  const channel = client.channel('realtime:table:public.items').on('INSERT', (change) => names.push(change.new.name));
  await subscribed(channel);
  await suite.server.db.pool.query("INSERT INTO public.items VALUES (1, 'first')");
  await waitFor(() => names.length === 1, 'the first change');
  await suite.server.stop();
  await waitFor(() => client.state === 'reconnecting', 'the client to notice');
  await suite.server.db.pool.query("INSERT INTO public.items VALUES (2, 'second'), (3, 'third')");
  await suite.server.start();
  await waitFor(
    () => names.length >= 3,
    () => `three changes (got ${JSON.stringify(names)})`,
  );
  await sleep(300);
  assert.deepEqual(names, ['first', 'second', 'third']);
});
