// The chat page: joins a room with @nself/client, shows its recent history, tracks presence, lists who is online and the messages.
import { RealtimeClient } from '@nself/client';

const realtimeUrl = document.querySelector('meta[name="realtime-url"]').content;
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

$('name').value = params.get('name') ?? '';
$('room').value = params.get('room') ?? 'lobby';
$('join').addEventListener('submit', (event) => {
  event.preventDefault();
  start($('name').value.trim(), $('room').value.trim());
});
if (params.get('name')) start(params.get('name'), $('room').value);

/** Joins `room` as `name` and wires the page to the channel. */
function start(name, room) {
  $('join').hidden = true;
  $('chat').hidden = false;
  $('title').textContent = `#${room} as ${name}`;

  const client = new RealtimeClient({ url: realtimeUrl });
  // The room's newest stored messages (the server caps them at REALTIME_REPLAY_MAX, 25 by default) come first, on every join and reload.
  const channel = client.channel(room, { config: { broadcast: { self: true, replay: { since: 0, limit: 25 } } } });

  channel.on('message.sent', (payload, message) => showMessage(payload, message.replayed));
  channel.on('presence', { event: 'sync' }, () => showOnline(channel.presenceState()));
  channel.subscribe((status, error) => {
    $('status').textContent = status === 'SUBSCRIBED' ? 'joined' : status.toLowerCase().replace('_', ' ');
    $('status').className = status === 'SUBSCRIBED' ? 'joined' : '';
    $('error').textContent = error ? error.message : '';
  });
  channel.track({ user_id: name, status: 'online', joined_at: new Date().toISOString() });

  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('text').value.trim();
    if (!text) return;
    $('text').value = '';
    channel
      .send({ type: 'broadcast', event: 'message.sent', payload: { text, user_id: name, timestamp: Date.now() } })
      .then(() => {
        $('error').textContent = '';
      })
      .catch((error) => {
        $('error').textContent = `not sent: ${error.message}`;
      });
  });
}

function showMessage(payload, replayed) {
  const item = document.createElement('li');
  if (replayed) item.className = 'history';
  const author = document.createElement('span');
  author.className = 'author';
  author.textContent = String(payload.user_id ?? 'someone');
  item.append(author, document.createTextNode(String(payload.text ?? '')));
  $('messages').append(item);
  item.scrollIntoView({ block: 'end' });
}

function showOnline(state) {
  const names = Object.keys(state).sort();
  $('online-count').textContent = String(names.length);
  $('online').replaceChildren(
    ...names.map((key) => {
      const item = document.createElement('li');
      item.textContent = key;
      return item;
    }),
  );
}
