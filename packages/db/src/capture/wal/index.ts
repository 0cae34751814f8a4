// Capture from the write-ahead log: setup, the consumer, and what it captures.
export * from './setup.js';
export * from './watches.js';
export * from './consumer.js';
export * from './slot-health.js';
export * from './bytes.js';
export { formatLsn, parseLsn, type Lsn } from './pgoutput.js';
export * from './caught-up.js';
export type { LoggedRow } from './batch.js';
