// Public surface of @nself/server: starting a server, its configuration, and the postgres_changes seam.
export { startServer, type RunningServer, type StartOptions } from './server.js';
export { runUntilSignal } from './run-until-signal.js';
export { runWorkers, type RunningWorkers, type WorkersOptions } from './workers/primary.js';
export { resolveWorkerCount } from './workers/worker-count.js';
export { loadConfig, type Limits, type ServerConfig } from './config.js';
export { LogCode } from './log-codes.js';
export type { Identity } from './auth/auth.js';
export type { IdentifiedBinding, PostgresChangesExtension, PostgresChangesRequest, PostgresChangesSubscription } from './table-changes/postgres-changes.js';
export { WEBSOCKET_PATHS } from './socket/websocket-gateway.js';
export type { InspectorState } from './inspector/inspector-state.js';
export { SharedFrames } from './shared-frames.js';
