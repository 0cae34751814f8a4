// Which web pages may reach the server: the `Origin` rule that keeps other sites' pages off a development server.
import { ConnectError } from '@nself/protocol';

/** Hosts of a page served from this machine (a URL's `hostname`, so IPv6 keeps its brackets). */
const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/**
 * The refusal (403 and its `{"error"}` text) for a request from the web page at `origin`, or undefined
 * when it may proceed. Requests without an `Origin` (Node clients, curl) always may; so may origins in
 * `allowed` (`*` is any). Beyond those, development mode (no JWT secret, where token claims are read
 * unverified) admits only pages served from loopback, so that a site the developer visits cannot use
 * the local server; with a secret every origin may, unless `allowed` lists which.
 */
export function originRefusal(origin: string | undefined, allowed: readonly string[], developmentMode: boolean): { status: number; error: string } | undefined {
  if (origin === undefined || allowed.includes('*') || allowed.includes(origin)) return undefined;
  if (developmentMode ? isLoopbackOrigin(origin) : allowed.length === 0) return undefined;
  return ConnectError.originNotAllowed(origin, developmentMode);
}

/** Whether `origin` is an http(s) page on localhost, 127.0.0.1 or [::1], on any port. */
export function isLoopbackOrigin(origin: string): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && LOOPBACK_HOSTS.includes(url.hostname) && url.origin === origin;
}
