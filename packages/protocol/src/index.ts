// Public surface of @nself/protocol: wire vocabulary, error texts, message model and serializers.
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
