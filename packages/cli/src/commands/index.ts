// Registers every `nself realtime` command group on the `realtime` command.
import type { Command } from 'commander';
import { registerSystemCommands } from './system.js';

export function registerCommands(realtime: Command): void {
  registerSystemCommands(realtime);
}
