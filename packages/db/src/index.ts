// Public surface of @nself/db: connecting, the embedded PostgreSQL, migrations and data operations.
export * from './errors.js';
export * from './embedded.js';
export * from './database.js';
export * from './migrations.js';
