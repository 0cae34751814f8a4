// What a channel asks for when it joins: its options, the offset to resume after, presence and table bindings.
import type { JoinPayload } from '@nself/protocol';
import type { TableBinding } from './table-changes.js';

/** Options of `client.channel(name, options)`. */
export interface ChannelOptions {
  config?: {
    broadcast?: {
      /** Receive my own broadcasts too. @default false */
      self?: boolean;
      /** Have the server acknowledge each broadcast, so `send()` resolves once it is stored. @default true */
      ack?: boolean;
      /**
       * On the first join, receive the channel's newest stored messages first (marked `replayed`): those sent at or after
       * `since` (unix ms, default 0), at most `limit` (the server caps it at REALTIME_REPLAY_MAX, 25 by default). Rejoins resume instead.
       */
      replay?: { since?: number; limit?: number };
    };
    presence?: {
      /** The key I am tracked under. @default the tracked state's `user_id` or `player_id`, else chosen by the server */
      key?: string;
    };
    /** Join the channel as a private channel (membership required). @default false */
    private?: boolean;
  };
}

/** Everything a join payload depends on. */
export interface JoinInputs {
  readonly options: ChannelOptions;
  /** The last offset received, if any. */
  readonly offset: number | undefined;
  /** The log position of the last table change received, if any. */
  readonly changePosition: number | undefined;
  readonly presence: { readonly key: string | undefined; readonly enabled: boolean };
  readonly bindings: TableBinding[];
  readonly token: string | null;
}

/**
 * The `phx_join` payload: `config` (broadcast with the offset to resume after once one is known,
 * presence, postgres_changes with the position to resume table changes after, private) and the
 * access token. A first join sends no offset (but the replay asked for, if any): its reply's `broadcast.latest_offset`
 * (or the offset before the first replayed message) becomes the resume point, so even a channel that has received nothing yet resumes without a gap.
 */
export function joinPayload(inputs: JoinInputs): JoinPayload {
  const config = inputs.options.config;
  return {
    config: {
      broadcast: {
        ack: config?.broadcast?.ack !== false,
        self: config?.broadcast?.self === true,
        ...(inputs.offset !== undefined ? { resume: { offset: inputs.offset } } : {}),
        ...(inputs.offset === undefined && config?.broadcast?.replay ? { replay: config.broadcast.replay } : {}),
      },
      presence: { key: inputs.presence.key ?? '', enabled: inputs.presence.enabled },
      postgres_changes: inputs.bindings,
      private: config?.private === true,
      ...(inputs.changePosition !== undefined && inputs.bindings.length > 0 ? { postgres_changes_resume: { position: inputs.changePosition } } : {}),
    },
    ...(inputs.token ? { access_token: inputs.token } : {}),
  };
}
