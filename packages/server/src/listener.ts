// The server's notifications on the process's one LISTEN connection: realtime:broadcast, realtime:presence and
// realtime:access, parsed and handed on in the order they arrive; after a reconnect, what may have been missed is read back.
import { BROADCAST_NOTIFY_CHANNEL, NotificationListener, parseExactJson } from '@nself/db';
import type { Logger } from './logger.js';
import { LogCode } from './log-codes.js';

export const PRESENCE_CHANNEL = 'realtime:presence';
export const ACCESS_CHANNEL = 'realtime:access';

export interface ListenerHandlers {
  /** `payload` parsed (a broadcast note's with exact numbers, for the message it may carry), `text` as sent. */
  onNotification(channel: string, payload: unknown, text: string): void;
  /** Called after a reconnect (not the first connect) once LISTEN is active again. */
  onReconnected(): void;
}

/** The process's LISTEN connection (shared with the table change feed), its losses and failing handlers logged. */
export function createListener(databaseUrl: string, logger: Logger): NotificationListener {
  return new NotificationListener({
    connection: databaseUrl,
    onLost: (error, retryInMs) => logger.warn({ code: LogCode.listenerLost, err: error.message, retryInMs }, 'database listener lost; reconnecting'),
    onHandlerError: (error, channel) => logger.error({ code: LogCode.notificationFailed, err: error, channel }, 'handling a notification failed'),
  });
}

/** Hands the server's channels to `handlers` (JSON payloads parsed), and tells of every reconnect; call before `listener.start()`. */
export async function listenToServerChannels(listener: NotificationListener, handlers: ListenerHandlers, logger: Logger): Promise<void> {
  listener.onReconnect(() => {
    logger.info({ code: LogCode.listenerReconnected }, 'database listener reconnected');
    handlers.onReconnected();
  });
  for (const channel of [BROADCAST_NOTIFY_CHANNEL, PRESENCE_CHANNEL, ACCESS_CHANNEL]) {
    await listener.listen(channel, (payload) => {
      let parsed: unknown;
      try {
        parsed = channel === BROADCAST_NOTIFY_CHANNEL ? parseExactJson(payload ?? 'null') : JSON.parse(payload ?? 'null');
      } catch {
        logger.warn({ code: LogCode.notificationNotJson, channel }, 'ignoring a notification that is not JSON');
        return;
      }
      handlers.onNotification(channel, parsed, payload ?? '');
    });
  }
}
