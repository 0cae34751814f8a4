// `nself realtime message delete`: the operator deletes a message from a channel's log; live subscribers are told.
import type { Command } from 'commander';
import { parseNumberArgument, withExamples } from '../args.js';
import { database, databaseOperations } from '../context.js';
import { say } from '../output.js';

/** Registers the `message` group. */
export function registerMessageCommands(realtime: Command): void {
  const message = realtime.command('message').description('Moderate the messages of a channel');
  withExamples(
    message
      .command('delete')
      .description('Delete a message of a channel by its offset: it leaves history and replay, and subscribers receive message_deleted')
      .argument('<channel>', 'channel slug or id')
      .argument('<offset>', 'the message offset (`nself realtime messages <channel>` lists them)'),
    ['nself realtime message delete general 42'],
  ).action(async (idOrSlug: string, offsetText: string) => {
    const offset = parseNumberArgument(offsetText, 'offset', { min: 1, integer: true });
    const db = await database();
    const { deleteMessageAs, requireChannel } = await databaseOperations();
    const channel = await requireChannel(db, idOrSlug);
    await deleteMessageAs(db, { kind: 'operator' }, channel.slug, offset);
    say(`Deleted the message at offset ${offset} of channel "${channel.slug}".\n`);
  });
}
