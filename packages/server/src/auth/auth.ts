// Client tokens: verifies JWTs (HS* with the secret; RS*, PS*, ES*, EdDSA with public keys or a JWKS) and derives who the client is.
import { decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { VerificationKeys, type JwtKeySources } from './jwt-keys.js';
import { PromiseCache } from '../promise-cache.js';
import { tokenRefusal } from '../refusal.js';

/** Who a token speaks for. Anonymous clients have no user id. */
export interface Identity {
  readonly userId: string | null;
  readonly role: string;
  readonly claims: JWTPayload;
  /** Expiry as seconds since the epoch, or null for tokens that do not expire (development mode only). */
  readonly expiresAt: number | null;
  /** Whether the token's signature was checked with a configured key (never in development mode). */
  readonly verified: boolean;
}

const HASURA_CLAIMS = 'https://hasura.io/jwt/claims';
/** The most verified tokens remembered; the oldest is forgotten first. */
const MAX_REMEMBERED_TOKENS = 4096;

/**
 * Verifies tokens with the configured keys, or, without any (development mode), accepts anyone. A token string
 * verified before is not verified again until its `exp`: the identity it gave is reused (the same
 * string carries the same signature and claims, so the outcome cannot differ), and concurrent
 * verifications of one string share one check.
 */
export class Authenticator {
  private readonly keys: VerificationKeys | undefined;
  private readonly verified = new PromiseCache<Promise<Identity>>(MAX_REMEMBERED_TOKENS);

  /** `sources` as a string is a shared secret alone. */
  constructor(sources: JwtKeySources | string | undefined) {
    const keys = new VerificationKeys(typeof sources === 'string' ? { secret: sources } : (sources ?? {}));
    this.keys = keys.none ? undefined : keys;
  }

  /** True when no key is configured and anonymous clients are let in. */
  get developmentMode(): boolean {
    return this.keys === undefined;
  }

  /**
   * The identity of `token`. With keys the token must be a validly signed JWT with an `exp` in
   * the future. In development mode a missing or non-JWT token is anonymous, and a JWT's claims are
   * read without checking the signature (its expiry is still honoured).
   */
  async verify(token: string | undefined): Promise<Identity> {
    if (!token) {
      if (this.keys) throw tokenRefusal('missing');
      return { userId: null, role: 'anon', claims: {}, expiresAt: null, verified: false };
    }
    if (!this.keys) {
      const claims = decodeLoosely(token);
      return claims === undefined ? { userId: null, role: 'anon', claims: {}, expiresAt: null, verified: false } : identityOf(claims, false);
    }
    const known = this.verified.get(token);
    if (known) {
      const identity = await known;
      if (identity.expiresAt !== null && identity.expiresAt * 1000 > Date.now()) return identity;
      this.verified.delete(token);
    }
    return this.verifyOnce(token, this.keys);
  }

  private verifyOnce(token: string, keys: VerificationKeys): Promise<Identity> {
    const pending = verifySigned(token, keys).then((claims) => identityOf(claims, true));
    this.verified.remember(token, pending, pending);
    return pending;
  }
}

async function verifySigned(token: string, keys: VerificationKeys): Promise<JWTPayload> {
  try {
    const { payload } = await jwtVerify(token, keys.resolve, { algorithms: [...keys.algorithms] });
    return payload;
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw tokenRefusal('expired', secondsSince(error.payload.exp));
    if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'exp') throw tokenRefusal('invalidExpiration');
    if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid || error instanceof joseErrors.JWTClaimValidationFailed) {
      throw tokenRefusal('malformed');
    }
    // A bad signature, an algorithm not configured, or no key for the token (an unknown `kid`, a key of another type).
    throw tokenRefusal('signature');
  }
}

/** Re-checks an identity's expiry now; throws the expired InvalidToken refusal when it has passed. */
export function assertNotExpired(identity: Identity): void {
  if (identity.expiresAt !== null && identity.expiresAt * 1000 <= Date.now()) {
    throw tokenRefusal('expired', secondsSince(identity.expiresAt));
  }
}

function decodeLoosely(token: string): JWTPayload | undefined {
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
}

/** The identity a token's claims give; `verified` tokens (signature checked) must carry an `exp`. */
function identityOf(claims: JWTPayload, verified: boolean): Identity {
  const exp = claims.exp;
  if (exp === undefined && verified) throw tokenRefusal('missingClaims');
  if (exp !== undefined && (typeof exp !== 'number' || !Number.isFinite(exp))) throw tokenRefusal('invalidExpiration');
  const hasura = claims[HASURA_CLAIMS] as Record<string, unknown> | undefined;
  const hasuraUser = typeof hasura?.['x-hasura-user-id'] === 'string' ? hasura['x-hasura-user-id'] : undefined;
  const hasuraRole = typeof hasura?.['x-hasura-default-role'] === 'string' ? hasura['x-hasura-default-role'] : undefined;
  const userId = typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : (hasuraUser ?? null);
  const role = typeof claims['role'] === 'string' ? claims['role'] : (hasuraRole ?? (userId ? 'authenticated' : 'anon'));
  const identity = { userId, role, claims, expiresAt: exp ?? null, verified };
  assertNotExpired(identity);
  return identity;
}

function secondsSince(exp: unknown): number {
  return typeof exp === 'number' ? Math.max(0, Math.floor(Date.now() / 1000 - exp)) : 0;
}
