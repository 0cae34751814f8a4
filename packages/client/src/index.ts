// Public surface of @nself/client: the client, channels, and the types of what callbacks receive.
export { RealtimeClient } from './client.js';
export { RealtimeChannel } from './channel.js';
export type { BroadcastInput, ChannelState, StatusCallback, SubscribeStatus } from './channel.js';
export type { ChannelOptions } from './join-config.js';
export type { ConnectionState, StateChangeDetail } from './connection.js';
export { RealtimeError } from './errors.js';
export type { RealtimeErrorCode } from './errors.js';
export type { BroadcastCallback, BroadcastMessage, PresenceCallback, SystemCallback, TableCallback } from './listeners.js';
export type { AccessToken, RealtimeClientOptions } from './options.js';
export type { SendReceipt } from './outbox.js';
export type { Presence, PresenceChange, PresenceState } from './presence.js';
export type { TableBinding, TableChange, TableEvent } from './table-changes.js';
export type { WebSocketConstructor, WebSocketLike } from './transport.js';
