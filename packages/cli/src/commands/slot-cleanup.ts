// `nself realtime cleanup --slots`: drops the database's replication slot when no server reads it, and says what that means.
import { formatBytes } from '@nself/db/values';
import { database, allDatabaseOperations } from '../context.js';
import { say } from '../output.js';

/** Drops the slot (refused while a consumer reads it) and prints what was dropped and what follows. */
export async function cleanupSlots(): Promise<void> {
  const db = await database();
  const { dropWalSlot, readSlotHealth } = await allDatabaseOperations();
  const { slot } = await readSlotHealth(db);
  const dropped = await dropWalSlot(db);
  if (!dropped) {
    say(`There is no replication slot ${slot.name} on this database; nothing to drop.\n`);
    return;
  }
  say(
    [
      `Dropped the replication slot ${dropped.slot}: it kept ${formatBytes(slot.retainedBytes ?? 0)} of WAL, ${formatBytes(slot.lagBytes ?? 0)} of it not yet confirmed by a consumer.`,
      ...(dropped.gap ? [`Recorded a gap after the newest position: ${dropped.gap}.`] : []),
      'Table changes are captured by triggers until a server reads the WAL again: a server that starts makes the slot anew.',
    ].join('\n') + '\n',
  );
}
