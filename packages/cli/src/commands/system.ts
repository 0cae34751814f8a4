// System commands: init (apply the schema's migrations and changed function files), status, logs, cleanup (of old data, or of the replication slot) and stats.
import type { Command } from 'commander';
import { readSetting, SETTINGS, UserError } from '@nself/db/values';
import { asListing, parseNumberArgument, resolveOutput, withExamples, type OutputOptions } from '../args.js';
import { connection, database, databaseOperations, allDatabaseOperations } from '../context.js';
import { renderJson, renderTable, say, type Row } from '../output.js';
import { registerLogsCommand } from './logs.js';
import { cleanupSlots } from './slot-cleanup.js';
import { registerStatusCommand } from './status.js';

export function registerSystemCommands(realtime: Command): void {
  realtime
    .command('init')
    .description('Create or upgrade the realtime schema in the database (safe to run again)')
    .option('--rls', 'also enable row level security on the realtime tables, so that apps may expose them through Hasura or PostgREST (docs/security.md)')
    .addHelpText('after', '\nExamples:\n  $ nself realtime init\n  $ nself realtime init --rls\n')
    .action(async (options: { rls?: boolean }) => {
      const pool = await connection();
      const { ROW_SECURITY_TABLES, enableRowSecurity, migrate, publishForWal } = await allDatabaseOperations();
      const result = await migrate(pool);
      if (result.applied.length === 0 && result.functions.length === 0) {
        say(`Realtime schema is up to date (version ${result.toVersion}); nothing to do.\n`);
      } else if (result.applied.length === 0) {
        say(`Updated the realtime schema's functions (version ${result.toVersion}).\n`);
        for (const name of result.functions) say(`  applied functions/${name}.sql\n`);
      } else {
        const from = result.fromVersion === 0 ? 'Created the realtime schema' : `Migrated the realtime schema from version ${result.fromVersion}`;
        say(`${from} to version ${result.toVersion}.\n`);
        for (const migration of result.applied) say(`  applied ${migration.name}\n`);
        for (const object of result.created) say(`  created ${object}\n`);
      }
      say(`${await publishForWal(pool)}\n`);
      if (options.rls) {
        await enableRowSecurity(pool);
        say(
          `Row level security is on for ${ROW_SECURITY_TABLES.map((table) => `realtime.${table}`).join(', ')}: ` +
            'a user sees public channels and those they are a member of, their messages and presence, and their own memberships and connections.\n',
        );
      }
    });

  registerStatusCommand(realtime);
  registerLogsCommand(realtime);

  withExamples(
    realtime
      .command('cleanup')
      .description(
        `Delete messages and table changes older than hours (default REALTIME_RETENTION_HOURS, else 24; a channel's {"retention_hours": n} metadata wins for its messages), and mark connections and presence unseen for REALTIME_STALE_AFTER_SECONDS (default ${SETTINGS.REALTIME_STALE_AFTER_SECONDS.shownDefault}) seconds disconnected and offline; with --slots, drop the replication slot instead`,
      )
      .argument('[hours]', 'retention in hours')
      .option(
        '--slots',
        "drop this database's replication slot, which keeps WAL until it is read: refused while a server reads it; table changes are then captured by triggers until a server starts again",
      ),
    ['nself realtime cleanup', 'nself realtime cleanup 48', '0 */6 * * * nself realtime cleanup   # in a crontab', 'nself realtime cleanup --slots'],
  ).action(async (hoursText: string | undefined, options: { slots?: boolean }) => {
    if (options.slots) {
      if (hoursText !== undefined)
        throw new UserError(`cleanup --slots drops the replication slot and takes no hours, got "${hoursText}"; run \`nself realtime cleanup ${hoursText}\` on its own`);
      await cleanupSlots();
      return;
    }
    const hours = hoursText === undefined ? readSetting(process.env, 'REALTIME_RETENTION_HOURS') : parseNumberArgument(hoursText, 'hours', { min: 0 });
    const db = await database();
    const { cleanupStaleConnections, cleanupStalePresence, trimChangeLog, trimChannelLogs } = await databaseOperations();
    const messages = await trimChannelLogs(db, hours);
    const changes = await trimChangeLog(db, hours);
    const staleSeconds = readSetting(process.env, 'REALTIME_STALE_AFTER_SECONDS');
    const connections = await cleanupStaleConnections(db, staleSeconds);
    const presence = await cleanupStalePresence(db, staleSeconds);
    say(
      [
        `Deleted ${plural(messages, 'message')} older than ${hours} hours.`,
        `Deleted ${plural(changes, 'table change')} older than ${hours} hours.`,
        `Cleaned up ${plural(connections, 'stale connection')} (marked disconnected after ${staleSeconds} seconds unseen, or removed after 24 hours disconnected).`,
        `Set ${plural(presence, 'stale presence row')} offline (unseen for ${staleSeconds} seconds).`,
      ].join('\n') + '\n',
    );
  });

  asListing(realtime.command('stats').description('Show statistics: channels, messages, busiest channels, presence, connections'), [
    'nself realtime stats',
    'nself realtime stats --json',
  ]).action(async (jsonWord: string | undefined, options: OutputOptions) => {
    const { format } = resolveOutput([jsonWord], options);
    const { collectStats } = await allDatabaseOperations();
    const sections = await collectStats(await database());
    if (format === 'json') {
      say(renderJson(Object.fromEntries(sections.map((section) => [section.name, section.rows]))));
      return;
    }
    const tables = await Promise.all(sections.map(async (section) => `${section.title}\n${await renderTable(section.columns, section.rows as readonly Row[])}`));
    say(tables.join('\n'));
  });
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
