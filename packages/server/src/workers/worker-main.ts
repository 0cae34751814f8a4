// The program each worker process runs: a full server on the port the primary shares, until SIGTERM.
import { isUserError, readSetting } from '@nself/db';
import { runUntilSignal } from '../run-until-signal.js';
import { startServer } from '../server.js';

// Ctrl+C in a terminal reaches every process of the group: the primary decides, and sends SIGTERM.
process.on('SIGINT', () => undefined);
try {
  const server = await startServer({ port: readSetting(process.env, 'REALTIME_PORT') });
  await runUntilSignal(server, ['SIGTERM']);
  process.exit(0);
} catch (error) {
  process.stderr.write(`error: ${isUserError(error) ? error.message : ((error as Error).stack ?? String(error))}\n`);
  process.exit(1);
}
