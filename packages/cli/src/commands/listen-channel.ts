// `nself realtime listen <channel>`: prints a channel's broadcasts as they are stored, in offset order, each once,
// after an offset (`--from`) or from now; woken by the channel's notifications, and reading its log at least once a second.
import type { Channel, Message, Pool } from '@nself/db';
import { stringifyExact } from '@nself/db/values';
import { allDatabaseOperations } from '../context.js';
import { say } from '../output.js';

const PAGE = 500;
const POLL_MS = 1_000;

export interface ChannelListenOptions {
  readonly json: boolean;
  readonly seconds: number | undefined;
  readonly from: number | 'now';
}

/** Streams `channel`'s broadcasts until Ctrl+C (or `seconds`); returns the offset it stopped after. */
export async function listenToChannel(pool: Pool, channel: Channel, options: ChannelListenOptions, announce: (text: string) => void): Promise<number> {
  let offset = options.from === 'now' ? channel.lastOffset : options.from;
  let wake: () => void = () => undefined;
  const { BROADCAST_NOTIFY_CHANNEL, NotificationListener, readLogPage } = await allDatabaseOperations();
  const listener = new NotificationListener({ connection: pool.options, onLost: () => wake() });
  await listener.listen(BROADCAST_NOTIFY_CHANNEL, (payload) => {
    if (payload?.includes(channel.id)) wake();
  });
  listener.onReconnect(() => wake());
  await listener.start();
  announce(`Listening to channel "${channel.slug}" after offset ${offset}${options.seconds === undefined ? ' (Ctrl+C to stop)' : ` for ${options.seconds} s`}.\n`);
  let running = true;
  const stop = () => {
    running = false;
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (options.seconds !== undefined) setTimeout(stop, options.seconds * 1000).unref();
  try {
    while (running) {
      const page = await readLogPage(pool, channel.id, { afterOffset: offset, limit: PAGE });
      for (const message of page.messages) {
        say(render(message, options.json));
        offset = message.offset;
      }
      if (page.full) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await listener.stop();
  }
  return offset;
}

/** One line per message: offset, time, event, sender and payload; or one JSON object per line. */
function render(message: Message, json: boolean): string {
  const payload = message.payloadBinary ? { binary_base64: message.payloadBinary.toString('base64') } : message.payload;
  if (json) {
    return `${stringifyExact({ offset: message.offset, id: message.id, event: message.event, sender: message.sender, sent_at: message.sentAt.toISOString(), payload })}\n`;
  }
  return `${message.offset}  ${message.sentAt.toISOString()}  ${message.event}${message.sender ? `  from ${message.sender}` : ''}  ${stringifyExact(payload)}\n`;
}
