// Presence state of one channel: applies the server's presence_state and presence_diff and reports joins and leaves.

/** One tracked presence: the state a client tracked, plus the server's `presence_ref`. */
export type Presence<TState = Record<string, unknown>> = TState & { presence_ref: string };

/** Everyone present on a channel: presence key → that key's presences (one per tracking connection). */
export type PresenceState<TState = Record<string, unknown>> = Record<string, Presence<TState>[]>;

/** What a presence `join` or `leave` callback receives. */
export interface PresenceChange<TState = Record<string, unknown>> {
  readonly event: 'join' | 'leave';
  /** The presence key (a user id when the tracked state has `user_id`, see `track`). */
  readonly key: string;
  /** The key's presences after the change. */
  readonly currentPresences: Presence<TState>[];
  /** The newest of `currentPresences`, undefined when the key has left entirely. */
  readonly currentPresence: Presence<TState> | undefined;
  /** Presences that joined (for `join`), else empty. */
  readonly newPresences: Presence<TState>[];
  /** Presences that left (for `leave`), else empty. */
  readonly leftPresences: Presence<TState>[];
}

type RawMeta = Record<string, unknown> & { phx_ref?: unknown };
type RawState = Record<string, { metas?: RawMeta[] }>;

/** A channel's presence state with the callbacks that report its changes. */
export class PresenceTracker {
  private state: PresenceState = {};
  private pendingDiffs: Array<{ joins?: RawState; leaves?: RawState }> = [];
  private hasState = false;

  constructor(
    private readonly onChange: (change: PresenceChange) => void,
    private readonly onSync: () => void,
  ) {}

  /** A copy of the current state. */
  snapshot(): PresenceState {
    return Object.fromEntries(Object.entries(this.state).map(([key, presences]) => [key, [...presences]]));
  }

  /** Forgets the join's state: diffs are buffered until the next full state arrives. */
  reset(): void {
    this.hasState = false;
    this.pendingDiffs = [];
  }

  /** Applies a full `presence_state`: keys that vanished leave, new presences join, then `sync`. */
  applyState(raw: unknown): void {
    const next = normalize(raw as RawState);
    for (const [key, presences] of Object.entries(this.state)) {
      const kept = new Set((next[key] ?? []).map((presence) => presence.presence_ref));
      const left = presences.filter((presence) => !kept.has(presence.presence_ref));
      if (left.length > 0) this.leave(key, left);
    }
    for (const [key, presences] of Object.entries(next)) {
      const known = new Set((this.state[key] ?? []).map((presence) => presence.presence_ref));
      const joined = presences.filter((presence) => !known.has(presence.presence_ref));
      if (joined.length > 0) this.join(key, joined);
    }
    this.hasState = true;
    for (const diff of this.pendingDiffs.splice(0)) this.applyDiffNow(diff);
    this.onSync();
  }

  /** Applies a `presence_diff`, or buffers it until this join's full state has arrived. */
  applyDiff(raw: unknown): void {
    const diff = raw as { joins?: RawState; leaves?: RawState };
    if (!this.hasState) {
      this.pendingDiffs.push(diff);
      return;
    }
    this.applyDiffNow(diff);
    this.onSync();
  }

  private applyDiffNow(diff: { joins?: RawState; leaves?: RawState }): void {
    for (const [key, presences] of Object.entries(normalize(diff.joins ?? {}))) this.join(key, presences);
    for (const [key, presences] of Object.entries(normalize(diff.leaves ?? {}))) {
      const refs = new Set(presences.map((presence) => presence.presence_ref));
      const left = (this.state[key] ?? []).filter((presence) => refs.has(presence.presence_ref));
      if (left.length > 0) this.leave(key, left);
    }
  }

  private join(key: string, presences: Presence[]): void {
    const known = new Set((this.state[key] ?? []).map((presence) => presence.presence_ref));
    const added = presences.filter((presence) => !known.has(presence.presence_ref));
    if (added.length === 0) return;
    const current = [...(this.state[key] ?? []), ...added];
    this.state[key] = current;
    this.onChange({ event: 'join', key, currentPresences: current, currentPresence: current.at(-1), newPresences: added, leftPresences: [] });
  }

  private leave(key: string, presences: Presence[]): void {
    const refs = new Set(presences.map((presence) => presence.presence_ref));
    const current = (this.state[key] ?? []).filter((presence) => !refs.has(presence.presence_ref));
    if (current.length > 0) this.state[key] = current;
    else delete this.state[key];
    this.onChange({ event: 'leave', key, currentPresences: current, currentPresence: current.at(-1), newPresences: [], leftPresences: presences });
  }
}

/** Server metas (`{phx_ref, ...state}`) as client presences (`{...state, presence_ref}`). */
function normalize(raw: RawState): PresenceState {
  const state: PresenceState = {};
  for (const [key, entry] of Object.entries(raw ?? {})) {
    state[key] = (entry?.metas ?? []).map((meta) => {
      const { phx_ref: ref, phx_ref_prev: _previous, ...rest } = meta;
      return { ...rest, presence_ref: String(ref) };
    });
  }
  return state;
}

/** A presence key from the tracked state: its `user_id` or `player_id`. */
export function presenceKeyOf(state: Record<string, unknown>): string | undefined {
  for (const field of ['user_id', 'player_id']) {
    const value = state[field];
    if (typeof value === 'string' || typeof value === 'number') return String(value);
  }
  return undefined;
}
