// What @nself/db offers without loading the PostgreSQL driver: settings, user errors, input checks, exact JSON and the
// channel, member and presence vocabularies. The CLI defines and checks its commands with these, and loads the rest only to reach a database.
export * from './errors.js';
export * from './config/index.js';
export * from './validation.js';
export * from './exact-json.js';
export { CHANNEL_TYPES, checkChannelMetadata, type ChannelType } from './channels.js';
export { MEMBER_ROLES } from './members.js';
export { PRESENCE_STATUSES } from './presence.js';
export { CAPTURE_MODES, type CaptureMode } from './capture/names.js';
export { describeDatabase, maskPassword } from './database-url.js';
export { formatBytes } from './capture/wal/bytes.js';
