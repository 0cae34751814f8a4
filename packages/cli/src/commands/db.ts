// `nself realtime db url | psql | start | stop`: reaching the database from the command line, and the embedded PostgreSQL's lifetime.
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import type { EmbeddedInstance } from '@nself/db';
import { defaultStateDir, describeDatabase, maskPassword, readSetting, UserError } from '@nself/db/values';
import { withExamples } from '../args.js';
import { announceNewEmbeddedDatabase, databaseUrl, databaseOperations } from '../context.js';
import { say } from '../output.js';

/** Registers the `db` command group. */
export function registerDatabaseCommands(realtime: Command): void {
  const db = withExamples(
    realtime
      .command('db')
      .description(
        'The database: its connection URL, psql on it, and starting or stopping the embedded PostgreSQL (used when DATABASE_URL is unset; other commands start it for their own run and stop it after)',
      ),
    [
      'nself realtime db url',
      'psql "$(nself realtime db url)"',
      'nself realtime db psql -c "select count(*) from realtime.messages"',
      'nself realtime db start',
      'nself realtime db stop',
    ],
  );

  db.command('url')
    .description(
      "Print the connection URL: the embedded PostgreSQL's with its password (it is started and kept running so that the URL works), or DATABASE_URL with its password masked (--show-password prints it)",
    )
    .option('--show-password', "print DATABASE_URL's password too")
    .action(async (options: { showPassword?: boolean }) => {
      const external = externalDatabaseUrl();
      if (external !== undefined) {
        say(`${options.showPassword ? external : maskPassword(external)}\n`);
        return;
      }
      say(`${(await startEmbedded()).url}\n`);
    });

  db.command('psql')
    .description('Open psql (from PATH) on the database; the arguments that follow go to psql as they are (-c "…", -At, a file with -f)')
    .argument('[psql-arguments...]', 'passed to psql as they are')
    .allowUnknownOption()
    .action(async (psqlArguments: string[]) => {
      const url = await databaseUrl();
      process.exitCode = await runPsql(url, psqlArguments);
    });

  db.command('start')
    .description('Start the embedded PostgreSQL and keep it running until `nself realtime db stop` (other commands then leave it running)')
    .action(async () => {
      refuseExternal('start');
      const instance = await startEmbedded();
      say(`The embedded PostgreSQL runs on 127.0.0.1:${instance.port} (data in ${instance.dataDir}) until \`nself realtime db stop\`.\n${instance.url}\n`);
    });

  db.command('stop')
    .description('Stop the embedded PostgreSQL (servers using it lose their database)')
    .action(async () => {
      const { stopEmbeddedPostgres } = await databaseOperations();
      refuseExternal('stop');
      const stateDir = defaultStateDir();
      say(
        (await stopEmbeddedPostgres(stateDir)) ? `Stopped the embedded PostgreSQL in ${stateDir}.\n` : `The embedded PostgreSQL in ${stateDir} is not running; nothing to stop.\n`,
      );
    });
}

function externalDatabaseUrl(): string | undefined {
  return readSetting(process.env, 'DATABASE_URL') || undefined;
}

function refuseExternal(action: 'start' | 'stop'): void {
  const external = externalDatabaseUrl();
  if (external === undefined) return;
  throw new UserError(
    `DATABASE_URL is set, so the database is external (${describeDatabase(external)}): nself does not ${action} it; unset DATABASE_URL to ${action} the embedded PostgreSQL`,
  );
}

async function startEmbedded(): Promise<EmbeddedInstance> {
  announceNewEmbeddedDatabase();
  const { ensureEmbeddedPostgres } = await databaseOperations();
  return ensureEmbeddedPostgres(defaultStateDir(), 'kept');
}

/** Runs psql on `url` with the terminal, the password passed in PGPASSWORD rather than on the command line; resolves with its exit status. */
function runPsql(url: string, psqlArguments: readonly string[]): Promise<number> {
  const target = new URL(url);
  const password = decodeURIComponent(target.password);
  target.password = '';
  return new Promise((resolve, reject) => {
    const child = spawn('psql', [`--dbname=${target.toString()}`, ...psqlArguments], {
      stdio: 'inherit',
      env: password ? { ...process.env, PGPASSWORD: password } : process.env,
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') return reject(error);
      reject(
        new UserError(
          'psql is not installed or not on PATH; install the PostgreSQL client (Debian/Ubuntu: apt-get install postgresql-client, macOS: brew install libpq), or connect any client to the URL from `nself realtime db url`',
        ),
      );
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
