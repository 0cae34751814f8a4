// Public surface of @nself/protocol: wire vocabulary, error texts, message model, serializers, and this server's extensions of the wire.
export * from './constants.js';
export * from './errors.js';
export * from './message.js';
export * from './json-limits.js';
export * from './text-serializer.js';
export * from './binary-serializer.js';
export * from './bindings.js';
export * from './topic.js';
export * from './client-codec.js';
export * from './table-events.js';
export * from './binding-filter.js';
export * from './extensions/join-config.js';
export * from './extensions/join-reply.js';
export * from './extensions/broadcast-meta.js';
export * from './extensions/change-position.js';
export * from './extensions/resume-errors.js';
export * from './extensions/history-page.js';
