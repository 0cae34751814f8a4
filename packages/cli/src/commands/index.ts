// Registers every `nself realtime` command group on the `realtime` command.
import type { Command } from 'commander';
import { useOneLineErrors, withExamples } from '../args.js';
import { registerBroadcastCommands } from './broadcast.js';
import { registerCaptureCommands } from './capture.js';
import { registerChannelCommands } from './channel.js';
import { registerConnectionCommands } from './connections.js';
import { registerDatabaseCommands } from './db.js';
import { registerMessageCommands } from './message.js';
import { registerPresenceCommands } from './presence.js';
import { registerServerCommands } from './server.js';
import { registerSystemCommands } from './system.js';
import { registerTokenCommand } from './token.js';

export function registerCommands(realtime: Command): void {
  registerSystemCommands(realtime);
  registerServerCommands(realtime);
  registerDatabaseCommands(realtime);
  registerChannelCommands(realtime);
  registerBroadcastCommands(realtime);
  registerMessageCommands(realtime);
  registerPresenceCommands(realtime);
  registerConnectionCommands(realtime);
  registerCaptureCommands(realtime);
  registerTokenCommand(realtime);
  withExamples(realtime, [
    'nself realtime init',
    'nself realtime channel create "general" public',
    `nself realtime broadcast general user.joined '{"user_id": "123"}'`,
    'nself realtime replay general 1643723400',
    'nself realtime presence online general',
    'nself realtime channel --help',
  ]);
  useOneLineErrors(realtime);
}
