// GraphQL for Nhost and Hasura clients: schema from the catalog, compiled statements, live queries, streams, and the two WebSocket subprotocols.
export * from './catalog.js';
export * from './change-filter.js';
export * from './changes.js';
export * from './compile.js';
export * from './engine.js';
export * from './errors.js';
export * from './limits.js';
export * from './live.js';
export * from './row-match.js';
export * from './schema.js';
export * from './stream.js';
export * from './connection-auth.js';
export * from './operations.js';
export * from './socket-base.js';
export * from './transport-ws.js';
export * from './legacy-ws.js';
