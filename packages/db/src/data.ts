// The data operations the CLI's commands run, with the connection, the embedded PostgreSQL and migrations: @nself/db
// without change capture, the WAL consumer and the server's listeners, whose modules a channel or presence command need not load.
// Statistics stay in the root entry: change capture adds its sections to them when its modules load.
export * from './database.js';
export * from './embedded.js';
export * from './migrations.js';
export * from './channels.js';
export * from './members.js';
export * from './moderation.js';
export * from './messages.js';
export * from './channel-log.js';
export * from './retention.js';
export * from './presence.js';
export * from './connections.js';
export * from './timestamps.js';
