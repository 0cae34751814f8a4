// Client JWTs for the nself server under test (auth on, HS256).
import { SignJWT } from 'jose';

/** Signs a token for `userId` with `role` (default `authenticated`), valid for a day. */
export function signToken(secret: string, userId: string, role = 'authenticated'): Promise<string> {
  return new SignJWT({ role })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime('1d')
    .sign(new TextEncoder().encode(secret));
}
