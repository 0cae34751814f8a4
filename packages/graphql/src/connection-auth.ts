// The credentials a GraphQL client presents (HTTP headers or `connection_init` payload), and the session they give.
import type { Session } from './engine.js';

/** A verified caller: its session and when its token expires (seconds since the epoch; null: never). */
export interface Authorized {
  readonly session: Session;
  readonly expiresAt: number | null;
}

/** Turns lower-cased headers into a session; throws an Error whose message says what was wrong. */
export type Authorize = (headers: Readonly<Record<string, string>>) => Promise<Authorized>;

/**
 * The headers of a `connection_init` payload, lower-cased: `payload.headers` as Nhost and Apollo
 * send them, and also top-level `Authorization`, `x-hasura-admin-secret` and `x-hasura-role`.
 */
export function headersOfPayload(payload: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  const take = (source: unknown) => {
    if (source === null || typeof source !== 'object' || Array.isArray(source)) return;
    for (const [name, value] of Object.entries(source)) if (typeof value === 'string') headers[name.toLowerCase()] = value;
  };
  take(payload);
  take((payload as { headers?: unknown } | null)?.headers);
  return headers;
}

/** Whether `renewed` may replace `current` on an open socket: same role, user and session variables (only the token's times may change). */
export function sameCaller(current: Session, renewed: Session): boolean {
  return (
    current.role === renewed.role && current.userId === renewed.userId && JSON.stringify(sortedEntries(current.variables)) === JSON.stringify(sortedEntries(renewed.variables))
  );
}

function sortedEntries(record: Record<string, string>): [string, string][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
