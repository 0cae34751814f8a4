// Signing the HS256 client tokens that tests and benchmarks present to a server with a JWT secret.
import { SignJWT } from 'jose';

/** The secret of test servers started with auth on. */
export const JWT_SECRET = 'test-secret-with-at-least-32-characters-long';

/** Signs an HS256 token for `sub` (none: a token naming no user) with `role`, expiring in `expiresInSeconds`. */
export async function token(sub: string | undefined, options: { expiresInSeconds?: number; secret?: string; role?: string } = {}): Promise<string> {
  const jwt = new SignJWT({ role: options.role ?? 'authenticated' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresInSeconds ?? 3600));
  if (sub) jwt.setSubject(sub);
  return jwt.sign(new TextEncoder().encode(options.secret ?? JWT_SECRET));
}
