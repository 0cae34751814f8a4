// The keys client tokens are verified with: a shared secret (HS*), public keys as PEM, JWK or JWKS, and a JWKS fetched from a URL.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, importJWK, importSPKI, importX509, type JWK, type JWSHeaderParameters } from 'jose';
import { UserError } from '@nself/db';

/** Where the keys come from; any combination (a secret beside public keys, as during a move to asymmetric signing keys). */
export interface JwtKeySources {
  /** Shared secret for HS256, HS384 and HS512. */
  readonly secret?: string | undefined;
  /** A public key as PEM (SPKI or an X.509 certificate), one JWK, or a JWKS (`{"keys":[…]}`), as text. */
  readonly publicKey?: string | undefined;
  /** A JWKS to fetch (http or https URL) or to read (a file path or file: URL). */
  readonly jwksUrl?: string | undefined;
}

type Key = CryptoKey | Uint8Array;
type Resolve = (header: JWSHeaderParameters, token: { payload: unknown; signature: unknown } & object) => Promise<Key>;

const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];
const PUBLIC_KEY_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** A fetched JWKS is used this long before it is fetched again. */
const JWKS_MAX_AGE_MS = 10 * 60_000;
/** After a fetch, a token naming an unknown key fetches again only after this long (a rotated key is seen within it). */
const JWKS_COOLDOWN_MS = 5_000;

/** Finds the key for each token by its header's `alg` (and `kid`); imports each key once. */
export class VerificationKeys {
  readonly algorithms: readonly string[];
  private readonly hmac = new Map<string, Promise<CryptoKey>>();
  private readonly publicKeys: Resolve | undefined;

  constructor(private readonly sources: JwtKeySources) {
    const resolvers = [publicKeyResolver(sources.publicKey), jwksResolver(sources.jwksUrl)].filter((resolve): resolve is Resolve => resolve !== undefined);
    this.publicKeys = resolvers.length === 0 ? undefined : resolvers.length === 1 ? resolvers[0] : firstOf(resolvers);
    this.algorithms = [...(sources.secret ? HMAC_ALGORITHMS : []), ...(this.publicKeys ? PUBLIC_KEY_ALGORITHMS : [])];
  }

  /** True when no key of any kind is configured: development mode. */
  get none(): boolean {
    return this.algorithms.length === 0;
  }

  /** The key for a token with `header` (jose's key resolver). */
  readonly resolve = (header: JWSHeaderParameters, token: { payload: unknown; signature: unknown } & object): Promise<Key> => {
    const alg = header.alg ?? '';
    if (HMAC_ALGORITHMS.includes(alg)) return this.hmacKey(alg);
    if (!this.publicKeys) throw new Error(`no public key is configured for ${alg} tokens`);
    return this.publicKeys(header, token);
  };

  private hmacKey(alg: string): Promise<CryptoKey> {
    let key = this.hmac.get(alg);
    if (!key) {
      key = crypto.subtle.importKey('raw', new TextEncoder().encode(this.sources.secret ?? ''), { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']);
      this.hmac.set(alg, key);
    }
    return key;
  }
}

/** The resolver of a configured public key (PEM, JWK or JWKS); throws a UserError naming what is accepted when it reads as none of them. */
function publicKeyResolver(text: string | undefined): Resolve | undefined {
  const source = text?.trim();
  if (!source) return undefined;
  if (source.startsWith('-----BEGIN')) {
    const imported = new Map<string, Promise<CryptoKey>>();
    const certificate = source.includes('CERTIFICATE');
    return (header) => {
      const alg = header.alg ?? '';
      let key = imported.get(alg);
      if (!key) {
        key = certificate ? importX509(source, alg) : importSPKI(source, alg);
        imported.set(alg, key);
      }
      return key;
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(source);
  } catch {
    throw new UserError('REALTIME_JWT_PUBLIC_KEY is neither PEM ("-----BEGIN PUBLIC KEY-----…") nor JSON (a JWK, or a JWKS {"keys":[…]})');
  }
  if (isJwks(parsed)) return createLocalJWKSet(parsed) as Resolve;
  if (parsed !== null && typeof parsed === 'object' && typeof (parsed as JWK).kty === 'string') {
    const jwk = parsed as JWK;
    const imported = new Map<string, Promise<Key>>();
    return (header) => {
      const alg = jwk.alg ?? header.alg ?? '';
      let key = imported.get(alg);
      if (!key) {
        key = importJWK(jwk, alg);
        imported.set(alg, key);
      }
      return key;
    };
  }
  throw new UserError('REALTIME_JWT_PUBLIC_KEY is JSON but neither a JWK (with "kty") nor a JWKS ({"keys":[…]})');
}

/** The resolver of a JWKS at a URL (fetched, cached, fetched again for an unknown key) or in a file (read once). */
function jwksResolver(location: string | undefined): Resolve | undefined {
  const source = location?.trim();
  if (!source) return undefined;
  if (/^https?:\/\//i.test(source)) {
    return createRemoteJWKSet(new URL(source), { cacheMaxAge: JWKS_MAX_AGE_MS, cooldownDuration: JWKS_COOLDOWN_MS }) as Resolve;
  }
  const file = source.startsWith('file:') ? new URL(source) : source;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UserError(
      `REALTIME_JWKS_URL: cannot read a JWKS from ${source} (${error instanceof Error ? error.message : String(error)}); expected an http(s) URL or a file holding {"keys":[…]}`,
    );
  }
  if (!isJwks(parsed)) throw new UserError(`REALTIME_JWKS_URL: ${source} holds no JWKS; expected {"keys":[…]}`);
  return createLocalJWKSet(parsed) as Resolve;
}

function isJwks(value: unknown): value is { keys: JWK[] } {
  return value !== null && typeof value === 'object' && Array.isArray((value as { keys?: unknown }).keys);
}

/** Tries each resolver in turn: the key of the first that has one. */
function firstOf(resolvers: readonly Resolve[]): Resolve {
  return async (header, token) => {
    let last: unknown;
    for (const resolve of resolvers) {
      try {
        return await resolve(header, token);
      } catch (error) {
        last = error;
      }
    }
    throw last;
  };
}
