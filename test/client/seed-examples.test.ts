// The seed's "Client SDK Examples" and "Use Case Examples", run as written against the real server and PostgreSQL.
/* eslint-disable @typescript-eslint/no-floating-promises -- as written, the examples do not await send() and track() */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RealtimeClient, type PresenceChange } from '@nself/client';
import { realtimeSuite, runCommand, subscribed } from './support.js';
import { waitFor } from '../helpers/wait.js';

const suite = realtimeSuite();
const newClient = () => suite.client({ apiKey: 'your-api-key' });

test('Client SDK example: a broadcast and presence (its table part is in table-changes.test.ts)', async () => {
  const client = newClient();

  // Broadcast message (another client listens on the channel)
  const heard: unknown[] = [];
  await subscribed(
    newClient()
      .channel('general')
      .on('message', (payload) => heard.push(payload)),
  );
  const channel = client.channel('general');
  channel.send({
    type: 'broadcast',
    event: 'message',
    payload: { text: 'Hello World!' },
  });
  await waitFor(() => heard.length === 1, 'the broadcast');
  assert.deepEqual(heard, [{ text: 'Hello World!' }]);

  // Track presence
  const joined: Array<[string, unknown]> = [];
  const presence = client.channel('lobby');
  presence.track({ user_id: 'user-123', status: 'online' });
  presence.on('presence', { event: 'join' }, ({ key, currentPresence }) => {
    joined.push([key, currentPresence?.['status']]);
  });
  await waitFor(() => joined.length > 0, 'my own presence join');
  assert.deepEqual(joined[0], ['user-123', 'online']);
});

test('Chat Application: presence channel, messages between two users, stored for history', async () => {
  await suite.server.db.pool.query('CREATE TABLE public.messages (id serial PRIMARY KEY, body text)');
  const displayed: Record<string, unknown[]> = { alice: [], bob: [] };
  const senders: Record<string, (text: string) => void> = {};

  const setupChat = async (client: RealtimeClient, currentUser: { id: string }) => {
    // Initialize channel
    await runCommand('ɳSelf realtime channel create chat-room-1 presence', suite.server.db.url).catch((error: Error) => {
      if (!/already exists/.test(error.message)) throw error;
    });
    // Subscribe to database for message persistence
    await runCommand('ɳSelf realtime subscribe public.messages', suite.server.db.url);
    // Client code
    const channel = client.channel('chat-room-1');
    // Track presence
    channel.track({ user_id: currentUser.id, status: 'online' });
    // Listen for messages
    channel.on('message.sent', (payload) => {
      displayed[currentUser.id]!.push(payload);
    });
    // Send message
    const sendMessage = (text: string) => {
      channel.send({
        type: 'broadcast',
        event: 'message.sent',
        payload: {
          text,
          user_id: currentUser.id,
          timestamp: Date.now(),
        },
      });
    };
    senders[currentUser.id] = sendMessage;
    return channel;
  };

  const alice = await setupChat(newClient(), { id: 'alice' });
  const bob = await setupChat(newClient(), { id: 'bob' });
  await waitFor(() => Object.keys(alice.presenceState()).length === 2 && Object.keys(bob.presenceState()).length === 2, 'both users present');
  assert.deepEqual(Object.keys(alice.presenceState()).sort(), ['alice', 'bob']);

  senders['bob']!('Hi Alice!');
  await waitFor(() => displayed['alice']!.length === 1, 'Alice sees Bob’s message');
  assert.equal((displayed['alice']![0] as { text: string; user_id: string }).text, 'Hi Alice!');
  assert.equal((displayed['alice']![0] as { user_id: string }).user_id, 'bob');
  assert.deepEqual(displayed['bob'], [], 'a sender does not get its own message back unless it asks for self');

  const history = await runCommand('ɳSelf realtime messages chat-room-1 50 json', suite.server.db.url);
  assert.match(history, /Hi Alice!/);
  const online = await runCommand('ɳSelf realtime presence online chat-room-1', suite.server.db.url);
  assert.match(online, /alice/);
  assert.match(online, /bob/);
});

test('Collaborative Editing: cursors as presence, operations as broadcasts', async () => {
  const applied: unknown[] = [];
  const shown: Array<Record<string, unknown>> = [];
  const setupCollaboration = async (client: RealtimeClient, currentUser: { id: string }, documentId: string) => {
    const channel = client.channel(`doc-${documentId}`);
    // Track user cursor position
    channel.track({
      user_id: currentUser.id,
      cursor: { line: 0, column: 0 },
      selection: null,
    });
    // Broadcast operations
    const broadcastOperation = (operation: { operation: { insert: string; at: number } }) => {
      channel.send({
        type: 'broadcast',
        event: 'operation',
        payload: operation,
      });
    };
    // Listen for operations from other users
    channel.on('operation', (payload: { operation: unknown }) => {
      if (currentUser.id === 'reader') applied.push(payload.operation);
    });
    // Show collaborators
    channel.on('presence', { event: 'sync' }, () => {
      const collaborators = channel.presenceState();
      if (currentUser.id === 'reader') shown.push(collaborators);
    });
    return broadcastOperation;
  };

  await setupCollaboration(newClient(), { id: 'reader' }, '42');
  const broadcastOperation = await setupCollaboration(newClient(), { id: 'writer' }, '42');
  await waitFor(() => Object.keys(shown.at(-1) ?? {}).length === 2, 'both collaborators shown');
  const collaborators = shown.at(-1) as Record<string, Array<{ cursor: unknown }>>;
  assert.deepEqual(Object.keys(collaborators).sort(), ['reader', 'writer']);
  assert.deepEqual(collaborators['writer']![0]!.cursor, { line: 0, column: 0 });

  broadcastOperation({ operation: { insert: 'Hello', at: 0 } });
  await waitFor(() => applied.length === 1, 'the operation applied');
  assert.deepEqual(applied, [{ insert: 'Hello', at: 0 }]);
});

test('Multiplayer Game: players join, act and leave the lobby', async () => {
  const announced: string[] = [];
  const handled: unknown[] = [];
  const setupGameLobby = async (client: RealtimeClient, currentPlayer: { id: string; character: string; level: number }, gameId: string) => {
    const lobby = client.channel(`game-${gameId}`);
    // Track player state
    lobby.track({
      player_id: currentPlayer.id,
      status: 'ready',
      character: currentPlayer.character,
      level: currentPlayer.level,
    });
    // Broadcast player actions
    const broadcastAction = (action: { type: string; data: unknown }) => {
      lobby.send({
        type: 'broadcast',
        event: 'player.action',
        payload: {
          player_id: currentPlayer.id,
          action: action.type,
          data: action.data,
          timestamp: Date.now(),
        },
      });
    };
    // Listen for other players' actions
    lobby.on('player.action', (payload) => {
      if (currentPlayer.id === 'player-1') handled.push(payload);
    });
    // Monitor player presence
    lobby.on('presence', { event: 'join' }, ({ key }: PresenceChange) => {
      if (currentPlayer.id === 'player-1') announced.push(`joined ${key}`);
    });
    lobby.on('presence', { event: 'leave' }, ({ key }: PresenceChange) => {
      if (currentPlayer.id === 'player-1') announced.push(`left ${key}`);
    });
    return broadcastAction;
  };

  await setupGameLobby(newClient(), { id: 'player-1', character: 'wizard', level: 5 }, '7');
  await waitFor(() => announced.includes('joined player-1'), 'player 1 in the lobby');
  const second = newClient();
  const broadcastAction = await setupGameLobby(second, { id: 'player-2', character: 'knight', level: 3 }, '7');
  await waitFor(() => announced.includes('joined player-2'), 'player 2 announced');

  broadcastAction({ type: 'move', data: { x: 100, y: 200 } });
  await waitFor(() => handled.length === 1, 'the action handled');
  assert.deepEqual((handled[0] as { action: string; data: unknown }).data, { x: 100, y: 200 });
  assert.equal((handled[0] as { player_id: string }).player_id, 'player-2');

  await second.disconnect();
  await waitFor(() => announced.includes('left player-2'), 'player 2 left');
  assert.deepEqual(announced, ['joined player-1', 'joined player-2', 'left player-2']);
});
