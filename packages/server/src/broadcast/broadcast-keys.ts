// The keys that sign the messages this server's broadcast notifications carry (REALTIME_BROADCAST_NOTIFY_PAYLOADS), or none, said in the log, where the server's role cannot read them.
import { loadNoteKeys, type NoteKeys } from '@nself/db';
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { LogCode } from '../log-codes.js';

/**
 * The keys of realtime.broadcast_note_keys (made by the first server to start); undefined, with a
 * warning, when this server's role may not read or make them (a role other than the schema's owner):
 * its notifications then say where each message is, and every process reads the messages back, as
 * with the setting off.
 */
export async function loadBroadcastKeys(pool: pg.Pool, logger: Logger): Promise<NoteKeys | undefined> {
  try {
    return await loadNoteKeys(pool);
  } catch (error) {
    logger.warn(
      { code: LogCode.broadcastKeysUnavailable, err: error },
      "broadcast notifications will not carry messages: this server's role cannot read realtime.broadcast_note_keys; other processes read each message back from the log",
    );
    return undefined;
  }
}
