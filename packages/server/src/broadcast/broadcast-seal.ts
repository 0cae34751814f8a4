// The key that seals this server's broadcast notifications (REALTIME_BROADCAST_NOTIFY_PAYLOADS), or none, said in the log, where the server's role cannot read it.
import { loadNoteSeal, type NoteSeal } from '@nself/db';
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { LogCode } from '../log-codes.js';

/**
 * The seal of realtime.broadcast_note_keys; undefined, with a warning, when this server's role may not
 * read or make the key (a role other than the schema's owner): its notifications then say where each
 * message is, and every process reads the messages back, as with the setting off.
 */
export async function loadBroadcastSeal(pool: pg.Pool, logger: Logger): Promise<NoteSeal | undefined> {
  try {
    return await loadNoteSeal(pool);
  } catch (error) {
    logger.warn(
      { code: LogCode.broadcastSealUnavailable, err: error },
      "broadcast notifications will not carry messages: this server's role cannot read realtime.broadcast_note_keys; other processes read each message back from the log",
    );
    return undefined;
  }
}
