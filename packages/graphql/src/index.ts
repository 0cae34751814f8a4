// GraphQL for Nhost and Hasura clients: schema from the catalog, compiled statements, live queries, streams, and the two WebSocket subprotocols.
export * from './catalog.js';
export * from './changes.js';
export * from './compile.js';
export * from './engine.js';
export * from './errors.js';
export * from './live.js';
export * from './schema.js';
export * from './stream.js';
