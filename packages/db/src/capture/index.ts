// Table change capture: subscriptions, their triggers and filters, the ordered change log and its feed.
export * from './names.js';
export * from './lookup.js';
export * from './table-description.js';
export * from './capture-filter.js';
export * from './capture-filter-sql.js';
export * from './triggers.js';
export * from './subscriptions.js';
export * from './feed.js';
export * from './stats.js';
export * from './wal/index.js';
