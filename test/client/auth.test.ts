// Tokens: an async accessToken is used on connect and joins, refreshed before it expires, and replaced by setAuth.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccessToken, SubscribeStatus } from '@nself/client';
import { realtimeSuite, runCommand, subscribed } from './support.js';
import { token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'a-test-secret-of-at-least-thirty-two-characters';
const suite = realtimeSuite({ jwtSecret: SECRET }, async (server) => {
  await runCommand('ɳSelf realtime channel create team private', server.db.url);
  await runCommand('ɳSelf realtime channel join team user-1', server.db.url);
});

/** A signed token for `userId` that expires in `seconds`. */
function tokenFor(userId: string, seconds = 3600): Promise<string> {
  return token(userId, { secret: SECRET, expiresInSeconds: seconds });
}

const newClient = (accessToken: AccessToken) => suite.client({ accessToken, heartbeatIntervalMs: 300 });

test('an async accessToken lets a member join a private channel; a non-member is refused with the reason', async () => {
  const member = newClient(() => tokenFor('user-1'));
  await subscribed(member.channel('team', { config: { private: true } }));

  const stranger = newClient(() => tokenFor('user-2'));
  const failure = await new Promise<string>((resolve) => {
    stranger.channel('team', { config: { private: true } }).subscribe((status, error) => {
      if (status === 'CHANNEL_ERROR') resolve(error?.message ?? '');
    });
  });
  assert.equal(failure, 'joining "team": Unauthorized: You do not have permissions to read from this Channel topic: team');
});

test('setAuth replaces the token: the refused channel rejoins as the member and its messages arrive', async () => {
  const listener = newClient(() => tokenFor('user-1'));
  const heard: string[] = [];
  await subscribed(listener.channel('team', { config: { private: true } }).on<{ text: string }>('note', (payload) => heard.push(payload.text)));

  const client = newClient(await tokenFor('user-2'));
  const channel = client.channel('team', { config: { private: true } });
  const statuses: SubscribeStatus[] = [];
  channel.subscribe((status) => statuses.push(status));
  await waitFor(() => statuses.includes('CHANNEL_ERROR'), 'the first refusal');
  await client.setAuth(await tokenFor('user-1'));
  await waitFor(() => statuses.includes('SUBSCRIBED'), 'the rejoin as the member', 15_000);
  await channel.send({ type: 'broadcast', event: 'note', payload: { text: 'now a member' } });
  await waitFor(() => heard.length === 1, 'the message');
  assert.deepEqual(heard, ['now a member']);
});

test('a short-lived token is refreshed through the accessToken function, so the channel outlives the first token', async () => {
  let calls = 0;
  const client = newClient(async () => {
    calls += 1;
    return tokenFor('user-1', 2);
  });
  const statuses: SubscribeStatus[] = [];
  const heard: string[] = [];
  const channel = client.channel('team', { config: { private: true } }).on<{ text: string }>('note', (payload) => heard.push(payload.text));
  channel.subscribe((status) => statuses.push(status));
  await waitFor(() => statuses.includes('SUBSCRIBED'), 'the join');
  await sleep(3500);
  assert.ok(calls >= 3, `the token function was called ${calls} times`);
  assert.deepEqual(statuses, ['SUBSCRIBED'], 'the channel was never closed for an expired token');
  await runCommand(`ɳSelf realtime broadcast team note '{"text": "still here"}'`, suite.server.db.url);
  await waitFor(() => heard.length === 1, 'a message after the first token expired');
});
