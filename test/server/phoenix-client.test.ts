// Conformance: the unmodified phoenix JavaScript client (1.7 and 1.8), used as apps use it against Supabase Realtime, on vsn 1.0.0 and 2.0.0.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import * as phoenix17 from 'phoenix-1.7';
import * as phoenix18 from 'phoenix-1.8';
import type { Channel, Message, PresenceEntry, Socket, SocketOptions } from 'phoenix-1.7';
import { useTestServer } from '../helpers/server.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';
import { sleep, waitFor } from '../helpers/wait.js';

const env = useTestServer({ jwtSecret: JWT_SECRET });

type Phoenix = typeof phoenix17;
const VERSIONS: ReadonlyArray<[string, Phoenix]> = [
  ['1.7.23', phoenix17],
  ['1.8.16', phoenix18],
];
type Vsn = '1.0.0' | '2.0.0';

/**
 * What an app gives phoenix for vsn 1.0.0: phoenix's own serializer writes the 2.0.0 arrays whatever
 * `vsn` says, so JSON objects need an encoder and decoder of their own.
 */
const OBJECT_SERIALIZER: Pick<SocketOptions, 'encode' | 'decode'> = {
  encode: (message, callback) => callback(JSON.stringify(message)),
  decode: (raw, callback) => callback(JSON.parse(String(raw)) as Message),
};

/** A broadcast as the app's `channel.on('broadcast', …)` callback receives it. */
interface Broadcast {
  type: string;
  event: string;
  payload: unknown;
  meta?: unknown;
}

/** The answer to a push (a join, a broadcast, a track) as phoenix hands it to `receive`. */
interface Reply {
  status: 'ok' | 'error' | 'timeout';
  response: unknown;
}

/** Sockets opened by one test, and the closes each saw; all disconnected at its end. */
class Sockets {
  private readonly opened: Array<{ socket: Socket; closes: number }> = [];

  constructor(
    private readonly phoenix: Phoenix,
    private readonly vsn: Vsn,
  ) {}

  /** Opens a socket as an app does: `ws://host/realtime/v1` (phoenix adds `/websocket`), the anon key as `apikey`. */
  async open(extra: SocketOptions = {}): Promise<Socket> {
    const socket = new this.phoenix.Socket(`ws://127.0.0.1:${env.server.port}/realtime/v1`, {
      transport: WebSocket,
      params: { apikey: await token(undefined, { role: 'anon' }) },
      vsn: this.vsn,
      ...(this.vsn === '1.0.0' ? OBJECT_SERIALIZER : {}),
      timeout: 5_000,
      // Short, so the test sees the server answer heartbeats (phoenix closes the socket when one goes unanswered).
      heartbeatIntervalMs: 500,
      reconnectAfterMs: () => 200,
      ...extra,
    });
    const entry = { socket, closes: 0 };
    this.opened.push(entry);
    socket.onClose(() => {
      entry.closes++;
    });
    socket.connect();
    await waitFor(() => socket.isConnected(), 'the socket to open');
    return socket;
  }

  /** How many times `socket` closed since it opened. */
  closes(socket: Socket): number {
    return this.opened.find((entry) => entry.socket === socket)?.closes ?? 0;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.opened.map(({ socket }) => new Promise<void>((resolve) => socket.disconnect(resolve))));
  }
}

/** Supabase's join payload: what realtime-js sends, with broadcast self and ack on and a key chosen by the server. */
async function joinPayload(user: string, config: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return {
    config: { broadcast: { self: true, ack: true }, presence: { key: '' }, ...config },
    access_token: await token(user),
  };
}

/** Resolves with what the reply to `push` was: ok, error or timeout, and its response. */
function outcome(push: ReturnType<Channel['push']>): Promise<Reply> {
  return new Promise((resolve) => {
    push
      .receive('ok', (response) => resolve({ status: 'ok', response }))
      .receive('error', (response) => resolve({ status: 'error', response }))
      .receive('timeout', (response) => resolve({ status: 'timeout', response }));
  });
}

/** The broadcasts `channel` delivers to the app, as its callback receives them. */
function received(channel: Channel): Broadcast[] {
  const messages: Broadcast[] = [];
  channel.on('broadcast', (payload) => {
    messages.push(payload as Broadcast);
  });
  return messages;
}

/** Opens a plain WebSocket to `url`, sends `frame` and resolves with the first text frame that comes back. */
async function firstAnswer(url: string, frame: string): Promise<string> {
  const ws = new WebSocket(url);
  try {
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const answer = new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(String(data)));
      ws.once('close', (code) => reject(new Error(`the server closed the socket (${code}) without answering ${frame}`)));
    });
    ws.send(frame);
    return await answer;
  } finally {
    ws.close();
  }
}

/** One presence list entry as the app reads it: its key and metas without the server's `phx_ref`. */
function shown(key: string, entry: PresenceEntry): { key: string; metas: Array<Record<string, unknown>> } {
  return { key, metas: entry.metas.map(({ phx_ref: _ref, ...meta }) => ({ ...meta })) };
}

for (const [version, phoenix] of VERSIONS) {
  for (const vsn of ['1.0.0', '2.0.0'] as const) {
    const tag = `${version}-${vsn}`.replace(/\./g, '');
    describe(`phoenix ${version}, vsn ${vsn}`, () => {
      test("joins realtime:<name> with Supabase's join payload and gets ok", async () => {
        const sockets = new Sockets(phoenix, vsn);
        try {
          const socket = await sockets.open();
          const channel = socket.channel(`realtime:join-${tag}`, await joinPayload('user-1'));
          const joined = await outcome(channel.join());
          assert.equal(joined.status, 'ok', `join reply: ${JSON.stringify(joined.response)}`);
          assert.ok(channel.isJoined());
          await sleep(1_200);
          assert.equal(sockets.closes(socket), 0, 'heartbeats are answered, so the socket stays open');
        } finally {
          await sockets.closeAll();
        }
      });

      test('a broadcast pushed on one socket reaches the other and, with self, the sender; with ack the push is answered ok', async () => {
        const sockets = new Sockets(phoenix, vsn);
        const topic = `realtime:broadcast-${tag}`;
        try {
          const sender = (await sockets.open()).channel(topic, await joinPayload('user-1'));
          const receiver = (await sockets.open()).channel(topic, await joinPayload('user-2'));
          const echoed = received(sender);
          const delivered = received(receiver);
          assert.equal((await outcome(sender.join())).status, 'ok');
          assert.equal((await outcome(receiver.join())).status, 'ok');
          const sent = await outcome(sender.push('broadcast', { type: 'broadcast', event: 'hello', payload: { text: 'hi', n: 1 } }));
          assert.equal(sent.status, 'ok', `ack: ${JSON.stringify(sent.response)}`);
          const expected = { type: 'broadcast', event: 'hello', payload: { text: 'hi', n: 1 } };
          // Besides these, the app finds `meta` ({ id, offset }): this server stores every broadcast and says
          // where (docs/protocol-extensions.md); hosted Supabase adds no meta to a socket's broadcast.
          const { meta: _meta, ...message } = await waitFor(() => delivered[0], 'the broadcast on the other socket');
          assert.deepEqual(message, expected);
          const { meta: _ownMeta, ...own } = await waitFor(() => echoed[0], "the sender's own broadcast (self)");
          assert.deepEqual(own, expected);
          await sleep(100);
          assert.equal(delivered.length, 1, 'one broadcast, delivered once');
          assert.equal(echoed.length, 1);
        } finally {
          await sockets.closeAll();
        }
      });

      test("phoenix's Presence lists both trackers on both sockets, then sees one leave when its channel leaves", async () => {
        const sockets = new Sockets(phoenix, vsn);
        const topic = `realtime:presence-${tag}`;
        try {
          const members = await Promise.all(
            ['ann', 'ben'].map(async (name) => {
              const channel = (await sockets.open()).channel(topic, await joinPayload(name));
              const presence = new phoenix.Presence(channel);
              const seen: { list: Array<ReturnType<typeof shown>>; left: Array<ReturnType<typeof shown>> } = { list: [], left: [] };
              presence.onSync(() => {
                seen.list = presence.list(shown);
              });
              presence.onLeave((key, _current, left) => {
                seen.left.push(shown(key, left));
              });
              return { name, channel, seen };
            }),
          );
          for (const { channel } of members) assert.equal((await outcome(channel.join())).status, 'ok');
          for (const { channel, name } of members) {
            const tracked = await outcome(channel.push('presence', { type: 'presence', event: 'track', payload: { name } }));
            assert.equal(tracked.status, 'ok', `track reply: ${JSON.stringify(tracked.response)}`);
          }
          const names = (list: Array<ReturnType<typeof shown>>) => list.flatMap(({ metas }) => metas.map((meta) => meta['name'])).sort();
          for (const { seen, name } of members) {
            await waitFor(
              () => names(seen.list).length === 2,
              () => `${name}'s onSync listing both (${JSON.stringify(seen.list)})`,
            );
            assert.deepEqual(names(seen.list), ['ann', 'ben']);
            assert.equal(new Set(seen.list.map(({ key }) => key)).size, 2, 'without a key each join gets its own');
            for (const { metas } of seen.list)
              assert.deepEqual(
                metas.map((meta) => Object.keys(meta)),
                [['name']],
                'a meta holds what was tracked',
              );
          }
          const [ann, ben] = members as [(typeof members)[0], (typeof members)[0]];
          assert.equal((await outcome(ben.channel.leave())).status, 'ok');
          await waitFor(
            () => ann.seen.list.length === 1,
            () => `ann's onSync after ben left (${JSON.stringify(ann.seen.list)})`,
          );
          assert.deepEqual(
            ann.seen.list.map(({ metas }) => metas),
            [[{ name: 'ann' }]],
          );
          assert.deepEqual(
            ann.seen.left.map(({ metas }) => metas),
            [[{ name: 'ben' }]],
          );
        } finally {
          await sockets.closeAll();
        }
      });

      test('a private channel on a topic nobody may read is refused with an error whose reason starts with Unauthorized:', async () => {
        const sockets = new Sockets(phoenix, vsn);
        try {
          const socket = await sockets.open();
          const channel = socket.channel(`realtime:private-${tag}`, await joinPayload('user-1', { private: true }));
          const refused = await outcome(channel.join());
          // phoenix rejoins a refused channel after a while; the app leaves it.
          channel.leave();
          assert.equal(refused.status, 'error');
          const reason = (refused.response as { reason?: unknown }).reason;
          assert.equal(typeof reason, 'string', `error response: ${JSON.stringify(refused.response)}`);
          assert.match(reason as string, /^Unauthorized: /);
          assert.ok(socket.isConnected(), 'a refused join leaves the socket open');
        } finally {
          await sockets.closeAll();
        }
      });

      test('malformed pushes are answered or ignored and the socket and channel go on', async () => {
        const sockets = new Sockets(phoenix, vsn);
        const topic = `realtime:malformed-${tag}`;
        try {
          const socket = await sockets.open();
          const channel = socket.channel(topic, await joinPayload('user-1'));
          const errors: unknown[] = [];
          channel.onError((reason) => errors.push(reason));
          const listener = (await sockets.open()).channel(topic, await joinPayload('user-2'));
          const delivered = received(listener);
          assert.equal((await outcome(channel.join())).status, 'ok');
          assert.equal((await outcome(listener.join())).status, 'ok');
          // A track whose payload is not an object: hosted Supabase answers with this error.
          const track = await outcome(channel.push('presence', { type: 'presence', event: 'track', payload: 'not an object' }));
          assert.deepEqual(track, { status: 'error', response: { reason: 'Presence track payload must be a map' } });
          // An event the server does not know: ignored, so phoenix's push times out.
          assert.equal((await outcome(channel.push('no_such_event', { anything: true }, 300))).status, 'timeout');
          const sent = await outcome(channel.push('broadcast', { type: 'broadcast', event: 'after', payload: { still: 'here' } }));
          assert.equal(sent.status, 'ok');
          const message = await waitFor(() => delivered[0], 'the broadcast after the malformed pushes');
          assert.deepEqual(message.payload, { still: 'here' });
          assert.ok(socket.isConnected());
          assert.ok(channel.isJoined());
          assert.equal(sockets.closes(socket), 0, 'the socket never closed');
          assert.deepEqual(errors, [], 'the channel never errored');
        } finally {
          await sockets.closeAll();
        }
      });
    });
  }

  // phoenix appends its own vsn after the params, `?apikey=…&vsn=1.0.0&vsn=2.0.0`, and Phoenix servers (Plug)
  // take the last value of a repeated query parameter, so the socket speaks 2.0.0, as phoenix's own serializer
  // does. A server taking the first would answer in 1.0.0 objects, which phoenix's decoder cannot read.
  test(`phoenix ${version}: with vsn only in params ({ apikey, vsn: '1.0.0' }) the server takes the last of the two vsn values, 2.0.0, as hosted Supabase (Plug) does`, async () => {
    const options = { transport: WebSocket, params: { apikey: await token(undefined, { role: 'anon' }), vsn: '1.0.0' } };
    const url = new phoenix.Socket(`ws://127.0.0.1:${env.server.port}/realtime/v1`, options).endPointURL();
    assert.match(url, /vsn=1\.0\.0&vsn=2\.0\.0$/);
    // The first exchange as phoenix makes it, read with phoenix's own serializer before a Socket meets it:
    // an answer it cannot decode would be thrown from the socket's message handler, out of reach of the test.
    const heartbeat = await new Promise<string>((resolve) =>
      phoenix.Serializer.encode({ join_ref: null, ref: '1', topic: 'phoenix', event: 'heartbeat', payload: {} }, (encoded) => resolve(String(encoded))),
    );
    const answer = await firstAnswer(url, heartbeat);
    assert.doesNotThrow(
      () => phoenix.Serializer.decode(answer, () => undefined),
      `phoenix sent ${heartbeat} and cannot read the answer ${answer}; hosted answers [null,"1","phoenix","phx_reply",{"status":"ok","response":{}}]`,
    );
    const sockets = new Sockets(phoenix, '2.0.0');
    try {
      const socket = await sockets.open({ ...options, vsn: undefined });
      const channel = socket.channel(`realtime:params-vsn-${version.replace(/\./g, '')}`, await joinPayload('user-1'));
      const echoed = received(channel);
      assert.equal((await outcome(channel.join())).status, 'ok');
      assert.equal((await outcome(channel.push('broadcast', { type: 'broadcast', event: 'e', payload: { a: 1 } }))).status, 'ok');
      assert.deepEqual((await waitFor(() => echoed[0], 'the echoed broadcast')).payload, { a: 1 });
    } finally {
      await sockets.closeAll();
    }
  });
}
