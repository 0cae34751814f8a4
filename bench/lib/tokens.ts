// Client JWTs for the nself server under test (auth on, HS256).
import { SignJWT } from 'jose';

/** Signs a token for `userId` with role `authenticated`, valid for a day. */
export function signToken(secret: string, userId: string): Promise<string> {
  return new SignJWT({ role: 'authenticated' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime('1d')
    .sign(new TextEncoder().encode(secret));
}
