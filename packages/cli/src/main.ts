// The `nself` command line: `nself realtime <command>`, with every command registered from ./commands.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isUserError } from '@nself/db/values';
import { closeDatabase } from './context.js';
import { terminalText } from './output.js';
import { registerCommands } from './commands/index.js';

/** Builds the command tree. Exported for tests and for `--help` generation. */
export function buildProgram(): Command {
  const program = new Command('nself').description('nself: self-hosted backend tools').showHelpAfterError('(run with --help for usage)').exitOverride();
  const realtime = program
    .command('realtime')
    .description('Real-time engine for PostgreSQL: table changes, channels, broadcast with replay, presence')
    .version(cliVersion(), '-V, --version', 'print the version')
    .exitOverride();
  registerCommands(realtime);
  return program;
}

/** Runs the command line and returns the exit status. Errors print one line on stderr, never a stack. */
export async function main(argv: string[]): Promise<number> {
  // Output piped into a reader that stopped (`… | head -1`) ends the command quietly (and the embedded PostgreSQL with it, if it started it).
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    void closeDatabase().finally(() => process.exit(process.exitCode ?? 0));
  });
  const program = buildProgram();
  program.configureOutput({ writeErr: (text) => process.stderr.write(text) });
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode;
    }
    process.stderr.write(`error: ${terminalText(describe(error), { keepNewlines: true })}\n`);
    return 1;
  } finally {
    await closeDatabase();
  }
}

/** This package's version, from its package.json (next to dist/ and src/). */
function cliVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

function describe(error: unknown): string {
  if (isUserError(error)) return error.message;
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}
