// The inspector's token: taken from the address's #token=… or the login form, kept for the tab's session, sent with every request.
import type { InspectorState } from '@nself/server';

const STORAGE_KEY = 'nself-inspector-token';

/** The token to present: one given in the address (then removed from it), else the one kept for this tab; null for none. */
export function currentToken(): string | null {
  const fromAddress = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromAddress) {
    rememberToken(fromAddress);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(STORAGE_KEY);
}

export function rememberToken(token: string): void {
  sessionStorage.setItem(STORAGE_KEY, token);
}

/** The server's state, or why it refused (its error text). */
export type StateReading = { readonly ok: true; readonly state: InspectorState } | { readonly ok: false; readonly refused: boolean; readonly error: string };

/** Reads /inspector/api/state with the token. */
export async function readState(token: string | null): Promise<StateReading> {
  let response: Response;
  try {
    response = await fetch('/inspector/api/state', { headers: token ? { authorization: `Bearer ${token}` } : {}, cache: 'no-store' });
  } catch {
    return { ok: false, refused: false, error: 'the server does not answer' };
  }
  if (response.ok) return { ok: true, state: (await response.json()) as InspectorState };
  const body = (await response.json().catch(() => ({}))) as { error?: string };
  return { ok: false, refused: response.status === 401 || response.status === 403, error: body.error ?? `the server answered ${response.status}` };
}
