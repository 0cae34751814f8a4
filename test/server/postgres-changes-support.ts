// For table change tests: a supabase-js channel with postgres_changes bindings that records what it receives.
import assert from 'node:assert/strict';
import type { RealtimePostgresChangesPayload, SupabaseClient } from '@supabase/supabase-js';
import { subscribe, waitFor } from './support.js';

export type Change = RealtimePostgresChangesPayload<Record<string, unknown>>;

/** A `system` message as supabase-js hands it to `.on('system')` listeners. */
export interface SystemMessage {
  readonly extension?: string;
  readonly status: string;
  readonly message: string;
  readonly channel?: string;
}

/** A binding as a test writes it; any event text is allowed, to test refusals. */
export interface Binding {
  readonly event: string;
  readonly schema: string;
  readonly table?: string;
  readonly filter?: string;
  readonly select?: string[];
}

/** What a watched channel received: every change, the changes of each binding, and the system messages. */
export interface Watched {
  readonly changes: Change[];
  readonly byBinding: Change[][];
  readonly system: SystemMessage[];
}

/**
 * Joins channel `name` with `bindings` and records what arrives; resolves once the join succeeded and
 * the first system message (the subscription's outcome) arrived.
 */
export async function watchChanges(client: SupabaseClient, name: string, bindings: readonly Binding[]): Promise<Watched> {
  const watched: Watched = { changes: [], byBinding: bindings.map(() => []), system: [] };
  const channel = client.channel(name);
  bindings.forEach((binding, index) => {
    channel.on('postgres_changes', binding as { event: '*'; schema: string }, (payload: Change) => {
      watched.changes.push(payload);
      watched.byBinding[index]?.push(payload);
    });
  });
  channel.on('system', {}, (payload) => watched.system.push(payload as SystemMessage));
  assert.equal((await subscribe(channel)).status, 'SUBSCRIBED');
  await waitFor(() => watched.system.length > 0, `the subscription outcome of ${name}`);
  return watched;
}

/** Waits a little longer, so that a change that should not arrive would have. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 300));
}
