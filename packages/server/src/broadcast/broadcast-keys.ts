// The keys that sign the database's broadcast notifications, which this server checks them with, or none, said in the log, where the server's role cannot read them.
import { loadNoteKeys, type NoteKeys } from '@nself/db';
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { LogCode } from '../log-codes.js';

/**
 * The keys of realtime.broadcast_note_keys (made by the first server to start); undefined, with a
 * warning, when this server's role may not read or make them (a role other than the schema's owner):
 * its notifications then carry no message, and it takes every notification as a position, as servers
 * did before notes were signed.
 */
export async function loadBroadcastKeys(pool: pg.Pool, logger: Logger): Promise<NoteKeys | undefined> {
  try {
    return await loadNoteKeys(pool);
  } catch (error) {
    logger.warn(
      { code: LogCode.broadcastKeysUnavailable, err: error },
      "broadcast notifications will carry no message and are not checked: this server's role cannot read realtime.broadcast_note_keys",
    );
    return undefined;
  }
}
