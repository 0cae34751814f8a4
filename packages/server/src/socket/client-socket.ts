// One client WebSocket: decoding frames, sending with a bounded buffer, heartbeat timeout, rate windows, cleanup.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import {
  broadcastMeta,
  ChannelEvent,
  CloseCode,
  decodeBroadcastPush,
  decodeText,
  encodeBroadcast,
  encodeText,
  FeatureEvent,
  MalformedMessageError,
  RefusedPayloadError,
  type JsonLimits,
  type Message,
  type ProtocolVersion,
} from '@nself/protocol';
import { stringifyExact, type Message as StoredMessage } from '@nself/db';
import type { Identity } from '../auth/auth.js';
import type { JoinedChannel } from '../channel/joined-channel.js';
import type { ServerConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { receivedKind, type Metrics } from '../metrics.js';
import { RateWindow } from './rate-window.js';
import { sharedHead, type SharedFrames, type SharedHead } from '../shared-frames.js';
import { TickCorkedWriter } from './tick-corking.js';
import { serverFrame } from './websocket-frame.js';
import { LogCode } from '../log-codes.js';

/** Who connected, as established at the upgrade. */
export interface SocketInfo {
  readonly id: string;
  readonly version: ProtocolVersion;
  readonly identity: Identity;
}

/**
 * Handles one decoded message of a socket (binary broadcast pushes arrive as `broadcast` messages with
 * byte payloads). With `refusal`, the message's payload was over the JSON limits (and is left empty):
 * it is answered with that reason instead of being handled.
 */
export type Dispatch = (socket: ClientSocket, message: Message, refusal?: string) => Promise<void>;

/** What a socket reports to and is bounded by. */
export interface ClientSocketDeps {
  readonly config: Pick<ServerConfig, 'limits'>;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** Told when a socket has closed and cleaned up. */
export interface SocketRegistry {
  closed(socket: ClientSocket): void;
}

/** How often a socket waiting to drain looks again when the connection says nothing. */
const DRAIN_POLL_MS = 50;

/** The ClientSocket of each open WebSocket: its event handlers are shared by every socket instead of closures per socket. */
const clients = new WeakMap<WebSocket, ClientSocket>();

function onMessage(this: WebSocket, data: Buffer | Buffer[] | ArrayBuffer, isBinary: boolean): void {
  clients.get(this)?.receive(data, isBinary);
}

function onClose(this: WebSocket): void {
  clients.get(this)?.cleanup();
}

function onError(this: WebSocket, error: Error): void {
  clients.get(this)?.failed(error);
}

/** A connected client and the channels it joined. */
export class ClientSocket {
  private readonly joined = new Map<string, JoinedChannel>();
  private joinWindow: RateWindow | undefined;
  private messageWindow: RateWindow | undefined;
  private heartbeatWindow: RateWindow | undefined;
  /** Joins past the channel-count check that have not yet added their channel (or given up). */
  private pendingJoins = 0;
  private lastReceivedAt = Date.now();
  /** Per topic, the tail of its queue of messages being handled (created on first use). */
  private queues: Map<string, Promise<void>> | undefined;
  /** Tasks queued by `serialize` and not yet settled, over all topics. */
  private inFlight = 0;
  private closed = false;
  private readonly writer: TickCorkedWriter;
  /** The bounds on a client's JSON, as configured (the same for every frame). */
  private readonly jsonLimits: JsonLimits;
  /** The wait for the connection to drain that replays of this socket share, while one is under way. */
  private drainWait: Promise<void> | undefined;

  /** The channels joined on this socket, by topic. */
  get channels(): ReadonlyMap<string, JoinedChannel> {
    return this.joined;
  }

  /** Files a channel joined on this socket under its topic. */
  addChannel(channel: JoinedChannel): void {
    this.joined.set(channel.topic, channel);
  }

  /** Forgets a channel of this socket, unless its topic was joined again since. */
  removeChannel(channel: JoinedChannel): void {
    if (this.joined.get(channel.topic) === channel) this.joined.delete(channel.topic);
  }

  constructor(
    private readonly ws: WebSocket,
    /** The connection `ws` writes to (the upgraded HTTP socket). */
    private readonly transport: Duplex,
    readonly info: SocketInfo,
    private readonly deps: ClientSocketDeps,
    private readonly dispatch: Dispatch,
    private readonly registry: SocketRegistry,
  ) {
    this.writer = new TickCorkedWriter(transport);
    this.jsonLimits = { maxDepth: deps.config.limits.maxJsonDepth };
    clients.set(ws, this);
    ws.on('message', onMessage);
    ws.on('close', onClose);
    ws.on('error', onError);
  }

  /** Joins allowed per second (the window is created on the first join). */
  get joins(): RateWindow {
    this.joinWindow ??= new RateWindow(this.deps.config.limits.maxJoinsPerSecond);
    return this.joinWindow;
  }

  /** Broadcast and presence messages allowed per second (created on the first such message). */
  get messages(): RateWindow {
    this.messageWindow ??= new RateWindow(this.deps.config.limits.maxMessagesPerSecond);
    return this.messageWindow;
  }

  /** Heartbeats allowed per second (created on the first heartbeat). */
  get heartbeats(): RateWindow {
    this.heartbeatWindow ??= new RateWindow(this.deps.config.limits.maxHeartbeatsPerSecond);
    return this.heartbeatWindow;
  }

  get id(): string {
    return this.info.id;
  }

  /**
   * Reserves a place for a channel being joined, counting joins still in flight (joins of different
   * topics run concurrently), so that the channel limit holds however joins interleave. Undefined when
   * the socket is at its limit. The returned release is to be called once the channel is added or the join ends.
   */
  reserveChannel(): (() => void) | undefined {
    if (this.joined.size + this.pendingJoins >= this.deps.config.limits.maxChannelsPerConnection) return undefined;
    this.pendingJoins++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pendingJoins--;
    };
  }

  /** Sends a message as a text frame of the socket's protocol version. */
  send(message: Message): void {
    if (!this.canSend()) return;
    let text: string;
    try {
      text = encodeText(message, this.info.version);
    } catch (error) {
      this.deps.logger.warn(
        { code: LogCode.messageUnencodable, err: error, connectionId: this.id, topic: message.topic, event: message.event },
        'skipping a message that cannot be encoded',
      );
      return;
    }
    this.write(text);
  }

  /**
   * Sends a push (no ref) whose frame is the same for every socket of `head`'s protocol version that
   * is handed `frames`, the delivery of one source (a broadcast, one table change for a group of
   * subscribers): `payloadOf` and the encoding run once per variant, and the same bytes go to each socket.
   * `head` must be of this socket's protocol version.
   */
  sendShared(frames: SharedFrames, head: SharedHead, payloadOf: () => unknown, stringify?: (value: unknown) => string): void {
    if (!this.canSend()) return;
    const frame = frames.encodedOnce(
      head.variant,
      () =>
        serverFrame(
          Buffer.from(
            encodeText(
              {
                topic: head.topic,
                event: head.event,
                joinRef: head.joinRef,
                ref: null,
                payload: payloadOf(),
              },
              head.version,
              stringify,
            ),
          ),
          'text',
        ),
      (error) => this.unencodable(error, head),
    );
    if (frame) this.writeFrame(frame);
  }

  /** Replies to a client push with `phx_reply`, echoing its refs. */
  reply(request: Message, status: 'ok' | 'error', response: unknown): void {
    this.send({ joinRef: request.joinRef, ref: request.ref, topic: request.topic, event: ChannelEvent.reply, payload: { status, response } });
  }

  /**
   * Sends a live stored broadcast with its `meta` (see BroadcastMeta). Its frame is encoded once per head
   * (protocol version and topic) in `frames`, the feed's delivery of the message, and shared by every
   * socket of that delivery; the broadcast feed counts these deliveries in the metrics. `head` must be
   * of this socket's protocol version.
   */
  sendBroadcast(head: SharedHead, message: StoredMessage, frames: SharedFrames): void {
    this.sendStored(head, message, false, frames);
  }

  /**
   * Sends a broadcast replayed on a resume (meta marked `replayed`) and counts it. Clients that rejoin
   * with the same range share the read of it and its `frames`, and those of one protocol version and
   * join ref share each replayed frame too.
   */
  sendReplayed(topic: string, joinRef: string | null, message: StoredMessage, frames: SharedFrames): void {
    const head = sharedHead(this.info.version, topic, FeatureEvent.broadcast, joinRef);
    this.sendStored({ ...head, variant: `${head.variant}\u0000replayed` }, message, true, frames);
    this.deps.metrics.messagesOut.inc({ kind: 'broadcast' });
  }

  /**
   * Resolves once at most `bytes` are queued for the client (at once when that is so already), with
   * false when the socket closed meanwhile: a long replay is written only as fast as the client reads,
   * never past the send-buffer cap.
   */
  async drained(bytes: number): Promise<boolean> {
    while (this.isOpen() && this.ws.bufferedAmount > bytes) await this.nextDrain();
    return this.isOpen();
  }

  /** Resolves when the connection drains or closes, or after a short while (every waiter of the socket shares one wait). */
  private nextDrain(): Promise<void> {
    this.drainWait ??= new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.transport.off('drain', done);
        this.transport.off('close', done);
        this.drainWait = undefined;
        resolve();
      };
      // `drain` comes once the connection's own buffer empties; the timer covers bytes that `ws` still holds.
      const timer = setTimeout(done, DRAIN_POLL_MS);
      this.transport.once('drain', done);
      this.transport.once('close', done);
    });
    return this.drainWait;
  }

  /**
   * Closes the socket with a code; cleanup runs when the close completes. The close frame queues
   * behind data already sent, so a slow reader sees the code once it catches up (ws ends the
   * connection itself if the client never answers the close).
   */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.close(code, reason);
  }

  /** Closes the socket when nothing came from the client for longer than the idle timeout (called by the server's idle sweep). */
  closeIfIdle(now: number): void {
    if (now - this.lastReceivedAt > this.deps.config.limits.idleTimeoutMs) this.close(CloseCode.idleTimeout, 'heartbeat timeout');
  }

  /** Drops the connection at once (the end of a shutdown's grace period). */
  terminate(): void {
    this.ws.terminate();
  }

  /**
   * Runs `task` after earlier tasks of the same topic, so one channel's messages are handled in order.
   * While more than `maxMessagesInFlight` tasks wait, the socket stops reading (TCP pushes back on the
   * client) until half of them are done, so a client cannot queue messages faster than they are handled.
   */
  serialize(topic: string, task: () => Promise<void>): Promise<void> {
    const queues = (this.queues ??= new Map<string, Promise<void>>());
    const previous = queues.get(topic) ?? Promise.resolve();
    const next = previous.then(task, task);
    const settled = next.catch(() => undefined);
    queues.set(topic, settled);
    if (++this.inFlight > this.deps.config.limits.maxMessagesInFlight && !this.ws.isPaused) this.ws.pause();
    void settled.then(() => {
      if (--this.inFlight <= this.deps.config.limits.maxMessagesInFlight / 2 && this.ws.isPaused && !this.closed) this.ws.resume();
      if (queues.get(topic) !== settled) return;
      queues.delete(topic);
      if (queues.size === 0 && this.queues === queues) this.queues = undefined;
    });
    return next;
  }

  /** A stored broadcast as a shared frame: JSON as text, bytes as a kind-4 binary frame (V2 only; V1 clients cannot receive bytes). */
  private sendStored(head: SharedHead, message: StoredMessage, replayed: boolean, frames: SharedFrames): void {
    const bytes = message.payloadBinary;
    if (!bytes) {
      this.sendShared(frames, head, () => broadcastPayload(message, replayed), stringifyExact);
      return;
    }
    if (head.version !== '2.0.0' || !this.canSend()) return;
    const frame = frames.encodedOnce(
      head.variant,
      () =>
        serverFrame(
          encodeBroadcast({
            topic: head.topic,
            event: message.event,
            payload: new Uint8Array(bytes),
            meta: broadcastMeta(message, replayed),
          }),
          'binary',
        ),
      (error) => this.unencodable(error, head, message),
    );
    if (frame) this.writeFrame(frame);
  }

  /**
   * Logs a frame that cannot be encoded for this socket's variant (a binary broadcast whose topic or
   * event does not fit the V2 frame's one-byte lengths, a payload too deep to stringify). That frame
   * is skipped by every socket of the variant, and later messages flow on.
   */
  private unencodable(error: unknown, head: SharedHead, message?: StoredMessage): void {
    this.deps.logger.warn(
      {
        code: LogCode.messageUnencodable,
        err: error,
        topic: head.topic,
        event: head.event,
        version: head.version,
        ...(message ? { messageId: message.id, offset: message.offset } : {}),
      },
      'skipping a message that cannot be framed for this protocol version',
    );
  }

  /** Sends one message through `ws` (text for a string, binary for bytes). */
  private write(data: string | Uint8Array): void {
    const text = typeof data === 'string';
    this.writer.beforeWrite();
    this.ws.send(data, { binary: !text });
    this.writer.afterWrite(text ? data.length : data.byteLength);
  }

  /**
   * Writes a whole WebSocket frame shared by many sockets straight to the connection, in order with
   * what `ws` writes (the server sends no fragmented or compressed messages, so `ws` never holds a
   * frame back); the bytes count in `bufferedAmount` as any other.
   */
  private writeFrame(frame: Buffer): void {
    this.writer.beforeWrite();
    this.transport.write(frame);
    this.writer.afterWrite(frame.byteLength);
  }

  /** True when the socket is open and its send buffer is under the cap (a slow reader over the cap is closed). */
  private canSend(): boolean {
    return this.isOpen() && this.hasRoom();
  }

  private isOpen(): boolean {
    return !this.closed && this.ws.readyState === this.ws.OPEN;
  }

  /** The bytes still queued from earlier ticks (what this tick corked is on its way) must be under the cap. */
  private hasRoom(): boolean {
    if (this.ws.bufferedAmount - this.writer.held <= this.deps.config.limits.maxSendBufferBytes) return true;
    this.deps.logger.warn({ code: LogCode.slowReaderClosed, connectionId: this.id, buffered: this.ws.bufferedAmount }, 'closing a slow reader');
    this.close(CloseCode.slowConsumer, 'slow consumer');
    return false;
  }

  /**
   * Decodes and dispatches a frame from the client. The metrics count it under its event when that
   * is one of the protocol's, else under `other`; a frame whose JSON is over the limits is dispatched
   * as a refusal.
   */
  receive(data: Buffer | Buffer[] | ArrayBuffer, isBinary: boolean): void {
    this.lastReceivedAt = Date.now();
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    let message: Message;
    let refusal: string | undefined;
    try {
      message = isBinary ? this.decodeBinary(bytes) : decodeText(bytes.toString('utf8'), this.info.version, this.jsonLimits);
    } catch (error) {
      if (error instanceof RefusedPayloadError) {
        message = error.envelope;
        refusal = error.reason;
      } else {
        const reason = error instanceof MalformedMessageError ? error.message : String(error);
        this.deps.logger.warn({ code: LogCode.malformedMessage, connectionId: this.id, reason }, 'dropping a malformed message');
        return;
      }
    }
    this.deps.metrics.messagesIn.inc({ kind: receivedKind(message.event) });
    this.dispatch(this, message, refusal).catch((error: unknown) => {
      this.deps.logger.error({ code: LogCode.messageFailed, err: error, connectionId: this.id, topic: message.topic, event: message.event }, 'handling a message failed');
    });
  }

  private decodeBinary(bytes: Buffer): Message {
    if (this.info.version !== '2.0.0') throw new MalformedMessageError('binary frames need vsn 2.0.0');
    const push = decodeBroadcastPush(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), this.jsonLimits);
    return {
      joinRef: push.joinRef || null,
      ref: push.ref || null,
      topic: push.topic,
      event: FeatureEvent.broadcast,
      payload: { type: 'broadcast', event: push.event, payload: push.payload, ...(Object.keys(push.meta).length ? { meta: push.meta } : {}) },
    };
  }

  /** An error of the connection (its close follows, which cleans up): noted for debugging. */
  failed(error: Error): void {
    this.deps.logger.debug({ err: error, connectionId: this.id }, 'socket error');
  }

  /** Runs once the socket has closed: its channels stop and the registry forgets it. */
  cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    clients.delete(this.ws);
    for (const channel of [...this.joined.values()]) channel.dispose({ endPresence: false });
    this.registry.closed(this);
  }
}

/** The payload of a `broadcast` push of a stored text broadcast. */
function broadcastPayload(message: StoredMessage, replayed: boolean): unknown {
  return { type: 'broadcast', event: message.event, payload: message.payload, meta: broadcastMeta(message, replayed) };
}
