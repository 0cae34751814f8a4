// A React app for the hook tests: the seed's ChatRoom (with a send box), a presence tracker, under StrictMode.
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { RealtimeClient } from '@nself/client';
import { RealtimeProvider, useChannel, usePresence, useTableChanges } from '@nself/react';

const params = new URLSearchParams(location.search);
const currentUser = { id: params.get('user') ?? 'anonymous' };

// The seed's React Hook example, plus an input to send and test ids to read the page.
function ChatRoom({ roomId }: { roomId: string }) {
  const { messages, send, online, status, error } = useChannel<{ text: string; user_id: string }>(roomId, {
    events: ['message.sent', 'user.joined', 'user.left'],
    presence: true,
  });
  const [draft, setDraft] = useState('');

  const sendMessage = (text: string) => {
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- as in the seed's example, which does not await send()
    send('message.sent', { text, user_id: currentUser.id });
  };

  return (
    <div>
      <div data-testid="online">Online: {online.length}</div>
      <div data-testid="who">
        {online
          .map((entry) => entry.key)
          .sort()
          .join(',')}
      </div>
      <div data-testid="status">{status}</div>
      <div data-testid="error">{error?.message ?? ''}</div>
      {messages.map((msg) => (
        <div key={msg.id} className="message">
          {msg.payload.text}
        </div>
      ))}
      <input data-testid="draft" value={draft} onChange={(event) => setDraft(event.target.value)} />
      <button
        data-testid="send"
        onClick={() => {
          sendMessage(draft);
          setDraft('');
        }}
      >
        Send
      </button>
    </div>
  );
}

function Me({ roomId }: { roomId: string }) {
  usePresence(roomId, { user_id: currentUser.id, status: 'online' });
  return null;
}

function Notes({ table }: { table: string }) {
  const { changes, status } = useTableChanges<{ id: number; body: string }>(table, { event: 'INSERT' });
  return (
    <div>
      <div data-testid="table-status">{status}</div>
      {changes.map((change) => (
        <div key={change.new.id} className="note">
          {change.new.body}
        </div>
      ))}
    </div>
  );
}

function App({ roomId }: { roomId: string }) {
  const [inRoom, setInRoom] = useState(true);
  return (
    <>
      <button data-testid="toggle" onClick={() => setInRoom(!inRoom)}>
        {inRoom ? 'Leave' : 'Enter'}
      </button>
      {inRoom && (
        <>
          <Me roomId={roomId} />
          <ChatRoom roomId={roomId} />
        </>
      )}
      {params.get('table') && <Notes table={params.get('table')!} />}
    </>
  );
}

const client = new RealtimeClient({ url: params.get('realtime') ?? 'ws://localhost:3100', reconnectDelayMs: () => 100 });
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <RealtimeProvider client={client}>
      <App roomId={params.get('room') ?? 'room-1'} />
    </RealtimeProvider>
  </StrictMode>,
);
