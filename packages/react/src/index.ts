// Public surface of @nself/react: the provider and the hooks.
export { RealtimeProvider, useRealtimeClient } from './provider.js';
export type { RealtimeProviderProps } from './provider.js';
export { useChannel, usePresence, useTableChanges } from './hooks.js';
export type { UseChannelOptions, UseChannelResult, UsePresenceResult, UseTableChangesResult } from './hooks.js';
export type { ChannelMessage, OnlineEntry } from './channel-store.js';
