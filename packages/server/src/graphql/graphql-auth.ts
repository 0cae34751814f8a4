// Hasura-style authorisation of GraphQL callers: a JWT with claims under `https://hasura.io/jwt/claims`, `x-hasura-role`, or the admin secret.
import { timingSafeEqual } from 'node:crypto';
import type { Authorize, Authorized } from '@nself/graphql';
import type { Authenticator } from '../auth/auth.js';
import { isRefusal, type TokenProblem } from '../refusal.js';

const HASURA_CLAIMS = 'https://hasura.io/jwt/claims';

/** What GraphQL authorisation needs from the server. */
export interface GraphQLAuthOptions {
  readonly auth: Authenticator;
  readonly adminSecret: string | undefined;
  readonly unauthorizedRole: string | undefined;
}

/** Hasura's wording of each token problem, after "Could not verify JWT: ". */
const JWT_PROBLEMS: Record<TokenProblem, string> = {
  missing: "Missing 'Authorization' or 'Cookie' header in JWT authentication mode",
  expired: 'JWTExpired',
  missingClaims: 'JWTClaimsMissing: the token has no "exp"',
  malformed: 'JWSError: the token is not a well-formed JWT',
  signature: 'JWSError JWSInvalidSignature',
  invalidExpiration: 'JWTInvalidClaimFormat: "exp" must be a number',
};

/**
 * Builds the authorisation of GraphQL requests and sockets, from lower-cased headers:
 * - `x-hasura-admin-secret` equal to HASURA_GRAPHQL_ADMIN_SECRET: the server's own database user, or the role in `x-hasura-role`;
 * - `authorization: Bearer <jwt>`: the role `x-hasura-role` names when the token's `x-hasura-allowed-roles` has it, else its
 *   `x-hasura-default-role` (a token without Hasura claims acts as its `role` claim);
 * - nothing: HASURA_GRAPHQL_UNAUTHORIZED_ROLE if set; in development mode the server's own user; otherwise refused.
 */
export function createGraphQLAuthorize(options: GraphQLAuthOptions): Authorize {
  return async (headers) => {
    const secret = headers['x-hasura-admin-secret'];
    const requestedRole = headers['x-hasura-role'];
    if (secret !== undefined) {
      if (options.adminSecret === undefined || !sameSecret(secret, options.adminSecret)) throw new Error('invalid x-hasura-admin-secret/x-hasura-access-key');
      return adminSession(requestedRole);
    }
    const bearer = headers['authorization']?.match(/^\s*Bearer\s+(\S+)\s*$/i)?.[1];
    if (headers['authorization'] !== undefined && bearer === undefined) throw new Error('Malformed Authorization header: expected "Bearer <token>"');
    if (bearer === undefined) {
      if (options.unauthorizedRole !== undefined) return sessionOf(options.unauthorizedRole, {}, null, null, {});
      if (options.auth.developmentMode) return adminSession(requestedRole);
      throw new Error(`Could not verify JWT: ${JWT_PROBLEMS.missing}`);
    }
    let identity;
    try {
      identity = await options.auth.verify(bearer);
    } catch (error) {
      if (isRefusal(error, 'InvalidToken')) throw new Error(`Could not verify JWT: ${JWT_PROBLEMS[error.detail[0].problem]}`, { cause: error });
      throw error;
    }
    const hasura = hasuraClaims(identity.claims[HASURA_CLAIMS]);
    const variables = Object.fromEntries(
      Object.entries(hasura ?? {}).flatMap(([name, value]) => (name.toLowerCase().startsWith('x-hasura-') ? [[name.toLowerCase(), sessionValue(value)]] : [])),
    );
    const defaultRole = typeof variables['x-hasura-default-role'] === 'string' ? variables['x-hasura-default-role'] : identity.role;
    const allowed = Array.isArray(hasura?.['x-hasura-allowed-roles']) ? (hasura['x-hasura-allowed-roles'] as unknown[]).filter((role) => typeof role === 'string') : [defaultRole];
    const role = requestedRole ?? defaultRole;
    if (role !== defaultRole && !allowed.includes(role)) throw new Error(`Your requested role "${role}" is not in allowed roles`);
    const userId = typeof variables['x-hasura-user-id'] === 'string' ? variables['x-hasura-user-id'] : identity.userId;
    return sessionOf(role, identity.claims, userId, identity.expiresAt, variables);
  };
}

function adminSession(role: string | undefined): Authorized {
  return sessionOf(role ?? null, {}, null, null, {});
}

function sessionOf(role: string | null, claims: Record<string, unknown>, userId: string | null, expiresAt: number | null, variables: Record<string, string>): Authorized {
  return { session: { role, claims, userId, variables: { ...variables, 'x-hasura-role': role ?? 'admin' } }, expiresAt };
}

/** The Hasura claims object: as JSON, or as a string of JSON (Hasura's `stringified_json` claims format). */
function hasuraClaims(value: unknown): Record<string, unknown> | undefined {
  if (typeof value === 'string') {
    try {
      return hasuraClaims(JSON.parse(value));
    } catch {
      return undefined;
    }
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** A session variable as text; arrays in PostgreSQL's array literal form, as Hasura writes them. */
function sessionValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return `{${value.map((item) => JSON.stringify(String(item))).join(',')}}`;
  return JSON.stringify(value);
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
