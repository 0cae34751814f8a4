// The configuration shared by the server and the CLI: every setting declared, parsed and documented once.
export * from './setting.js';
export * from './settings.js';
export * from './read.js';
export * from './table.js';
export * from './log-format.js';
