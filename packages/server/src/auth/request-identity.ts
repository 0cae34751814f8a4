// Who is calling over HTTP: the identity of a REST or inspector request's token (Authorization: Bearer, else apikey).
import type { IncomingMessage } from 'node:http';
import type { Authenticator, Identity } from './auth.js';
import { isRefusal } from '../refusal.js';

/** The caller's identity from `Authorization: Bearer`, else the `apikey` header or query; undefined when refused. */
export async function authenticate(deps: { readonly auth: Pick<Authenticator, 'verify'> }, request: IncomingMessage): Promise<Identity | undefined> {
  const bearer = request.headers.authorization?.match(/^Bearer\s+(.+)$/i)?.[1];
  const apikey = headerValue(request.headers['apikey']) ?? new URL(request.url ?? '/', 'http://localhost').searchParams.get('apikey') ?? undefined;
  const token = [bearer, apikey].find((value) => value && !value.startsWith('sb_'));
  try {
    return await deps.auth.verify(token);
  } catch (error) {
    if (isRefusal(error, 'InvalidToken')) return undefined;
    throw error;
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
