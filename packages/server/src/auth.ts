// Client tokens: verifies JWTs (HS256/384/512 with the configured secret) and derives who the client is.
import { decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { RecentAnswers } from './recent-answers.js';
import { tokenRefusal } from './refusal.js';

/** Who a token speaks for. Anonymous clients have no user id. */
export interface Identity {
  readonly userId: string | null;
  readonly role: string;
  readonly claims: JWTPayload;
  /** Expiry as seconds since the epoch, or null for tokens that do not expire (development mode only). */
  readonly expiresAt: number | null;
  /** Whether the token's signature was checked with the secret (never in development mode). */
  readonly verified: boolean;
}

const HASURA_CLAIMS = 'https://hasura.io/jwt/claims';
const ALGORITHMS = ['HS256', 'HS384', 'HS512'];
/** The most verified tokens remembered; the oldest is forgotten first. */
const MAX_REMEMBERED_TOKENS = 4096;

/**
 * Verifies tokens with a secret, or, without one (development mode), accepts anyone. A token string
 * verified before is not verified again until its `exp`: the identity it gave is reused (the same
 * string carries the same signature and claims, so the outcome cannot differ), and concurrent
 * verifications of one string share one check.
 */
export class Authenticator {
  private readonly keys: HmacKeys | undefined;
  private readonly verified = new RecentAnswers<Promise<Identity>>(MAX_REMEMBERED_TOKENS);

  constructor(secret: string | undefined) {
    this.keys = secret ? new HmacKeys(new TextEncoder().encode(secret)) : undefined;
  }

  /** True when no secret is configured and anonymous clients are let in. */
  get developmentMode(): boolean {
    return this.keys === undefined;
  }

  /**
   * The identity of `token`. With a secret the token must be a validly signed JWT with an `exp` in
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

  private verifyOnce(token: string, keys: HmacKeys): Promise<Identity> {
    const pending = verifySigned(token, keys).then((claims) => identityOf(claims, true));
    this.verified.remember(token, pending, pending);
    return pending;
  }
}

/** The secret imported once per HMAC algorithm, instead of once per verification. */
class HmacKeys {
  private readonly imported = new Map<string, Promise<CryptoKey>>();

  constructor(private readonly secret: Uint8Array<ArrayBuffer>) {}

  forAlgorithm(alg: string): Promise<CryptoKey> {
    let key = this.imported.get(alg);
    if (!key) {
      key = crypto.subtle.importKey('raw', this.secret, { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']);
      this.imported.set(alg, key);
    }
    return key;
  }
}

async function verifySigned(token: string, keys: HmacKeys): Promise<JWTPayload> {
  try {
    const { payload } = await jwtVerify(token, (header) => keys.forAlgorithm(header.alg), { algorithms: ALGORITHMS });
    return payload;
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw tokenRefusal('expired', secondsSince(error.payload.exp));
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) throw tokenRefusal('signature');
    if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'exp') throw tokenRefusal('invalidExpiration');
    if (error instanceof joseErrors.JOSEAlgNotAllowed) throw tokenRefusal('signature');
    throw tokenRefusal('malformed');
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
  const userId = typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : hasuraUser ?? null;
  const role = typeof claims['role'] === 'string' ? claims['role'] : hasuraRole ?? (userId ? 'authenticated' : 'anon');
  const identity = { userId, role, claims, expiresAt: exp ?? null, verified };
  assertNotExpired(identity);
  return identity;
}

function secondsSince(exp: unknown): number {
  return typeof exp === 'number' ? Math.max(0, Math.floor(Date.now() / 1000 - exp)) : 0;
}
