// System commands: init (apply the schema migrations).
import type { Command } from 'commander';
import { migrate } from '@nself/db';
import { connection } from '../context.js';

export function registerSystemCommands(realtime: Command): void {
  realtime
    .command('init')
    .description('Create or upgrade the realtime schema in the database (safe to run again)')
    .addHelpText('after', '\nExample:\n  $ nself realtime init\n')
    .action(async () => {
      const result = await migrate(await connection());
      if (result.applied.length === 0) {
        process.stdout.write(`Realtime schema is up to date (version ${result.toVersion}); nothing to do.\n`);
        return;
      }
      const from = result.fromVersion === 0 ? 'Created the realtime schema' : `Migrated the realtime schema from version ${result.fromVersion}`;
      process.stdout.write(`${from} to version ${result.toVersion}.\n`);
      for (const migration of result.applied) process.stdout.write(`  applied ${migration.name}\n`);
      for (const object of result.created) process.stdout.write(`  created ${object}\n`);
    });
}
