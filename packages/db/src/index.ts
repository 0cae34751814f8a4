// Public surface of @nself/db: connecting, the embedded PostgreSQL, migrations and data operations.
export * from './errors.js';
export * from './config/index.js';
export * from './embedded.js';
export * from './database.js';
export * from './migrations.js';
export * from './queryable.js';
export * from './validation.js';
export * from './timestamps.js';
export * from './channels.js';
export * from './members.js';
export * from './messages.js';
export * from './presence.js';
export * from './connections.js';
export * from './stats.js';
export * from './capture/index.js';
export * from './history.js';
export * from './retention.js';
