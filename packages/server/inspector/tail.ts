// The live tail: one channel's stored history (replayed on join) in one list, and below it its broadcasts and presence joins and leaves as they happen, through @nself/client.
import { RealtimeClient, type BroadcastMessage, type RealtimeChannel } from '@nself/client';

/** The most entries kept in the tail; older ones are dropped. */
const MAX_ENTRIES = 500;
/** Stored messages shown above the live ones when a channel is opened (the server caps it at REALTIME_REPLAY_MAX). */
const HISTORY_LIMIT = 25;
const PAYLOAD_PREVIEW = 400;

export class LiveTail {
  private readonly client: RealtimeClient;
  private channel: RealtimeChannel | undefined;

  constructor(
    token: string | null,
    private readonly elements: {
      readonly history: HTMLOListElement;
      readonly divider: HTMLElement;
      readonly live: HTMLOListElement;
      readonly heading: HTMLElement;
      readonly present: HTMLElement;
    },
  ) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.client = new RealtimeClient({ url: `${scheme}//${location.host}`, ...(token ? { accessToken: token } : {}) });
  }

  /** The channel shown, if any. */
  get current(): string | undefined {
    return this.channel?.name;
  }

  /** Shows `slug`: its newest stored messages first, then everything live. */
  open(slug: string): void {
    if (this.channel) void this.client.removeChannel(this.channel);
    const { history, divider, live, heading, present } = this.elements;
    history.replaceChildren();
    live.replaceChildren();
    divider.hidden = false;
    present.textContent = '';
    heading.textContent = slug;
    const channel = this.client.channel(slug, { config: { broadcast: { replay: { since: 0, limit: HISTORY_LIMIT } } } });
    this.channel = channel;
    channel.on('broadcast', { event: '*' }, (message: BroadcastMessage<unknown>) => this.showBroadcast(message));
    channel.on('presence', { event: 'join' }, ({ key, newPresences }) =>
      this.add(
        'presence',
        'join',
        key,
        newPresences.map(({ presence_ref: _ref, ...state }) => state),
        false,
      ),
    );
    channel.on('presence', { event: 'leave' }, ({ key }) => this.add('presence', 'leave', key, undefined, false));
    channel.on('presence', { event: 'sync' }, () => {
      const keys = Object.keys(channel.presenceState()).sort();
      present.textContent = keys.length === 0 ? 'nobody present' : `present: ${keys.join(', ')}`;
    });
    channel.subscribe((status, error) => {
      if (status !== 'SUBSCRIBED') this.add('status', status.toLowerCase(), '', error?.message, false);
    });
  }

  private showBroadcast(message: BroadcastMessage<unknown>): void {
    this.add('broadcast', message.event, message.offset === undefined ? '' : `#${message.offset}`, message.payload, message.replayed);
  }

  private add(kind: string, event: string, subject: string, detail: unknown, replayed: boolean): void {
    const list = replayed ? this.elements.history : this.elements.live;
    const item = document.createElement('li');
    item.className = kind;
    const time = document.createElement('time');
    time.textContent = replayed ? 'stored' : new Date().toLocaleTimeString();
    const label = document.createElement('b');
    label.textContent = event;
    const who = document.createElement('span');
    who.textContent = subject;
    const body = document.createElement('code');
    body.textContent = detail === undefined ? '' : preview(detail);
    item.append(time, label, who, body);
    list.append(item);
    while (list.children.length > MAX_ENTRIES) list.firstElementChild?.remove();
    item.scrollIntoView({ block: 'nearest' });
  }
}

function preview(value: unknown): string {
  const text = typeof value === 'string' ? value : value instanceof ArrayBuffer ? `${value.byteLength} bytes` : JSON.stringify(value);
  return text.length > PAYLOAD_PREVIEW ? `${text.slice(0, PAYLOAD_PREVIEW)}…` : text;
}
