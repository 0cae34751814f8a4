// The channel logs as a broadcast feed uses them, behind one small interface: PostgreSQL's here, a memory of them in unit tests.
import type pg from 'pg';
import { appendMessages, appendMessagesOfChannels, type AppendOptions, type IdentifiedMessage, type Message } from './messages.js';
import { readLogPage, type LogPage, type LogPageQuery } from './channel-log.js';

/** Stores broadcasts with consecutive offsets per channel, and reads a channel's messages back after an offset. */
export interface BroadcastLog {
  /** Stores messages of one channel in one transaction, with consecutive offsets in the order given; resolves with them stored. */
  append(channelId: string, messages: ReadonlyArray<Omit<IdentifiedMessage, 'channelId'>>): Promise<Message[]>;
  /** Stores messages of several channels in one transaction, all or none; resolves with them stored, in the order given. */
  appendAcrossChannels(messages: readonly IdentifiedMessage[]): Promise<Message[]>;
  /** A page of a channel's stored messages, oldest first, bounded by `limit` and `maxBytes`, as one snapshot sees them. */
  readPage(channelId: string, query: LogPageQuery): Promise<LogPage>;
}

/** The channel logs of realtime.messages; `options` says how the appends announce their messages. */
export function postgresBroadcastLog(pool: pg.Pool, options: AppendOptions = {}): BroadcastLog {
  return {
    append: (channelId, messages) => appendMessages(pool, channelId, messages, options),
    appendAcrossChannels: (messages) => appendMessagesOfChannels(pool, messages, options),
    readPage: (channelId, query) => readLogPage(pool, channelId, query),
  };
}
