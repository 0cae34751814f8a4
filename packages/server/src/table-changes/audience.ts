// Who a subscription delivers to, as far as table privileges and row-level security are concerned.
import type { Identity } from '../auth.js';

/** The database identity changes are checked against; subscribers with equal keys share every check. */
export interface Audience {
  readonly key: string;
  /** Sees every row and column without any check. */
  readonly service: boolean;
  /** The PostgreSQL role whose privileges and policies apply (the token's `role` claim). */
  readonly role: string;
  /** The token's claims, visible to policies as `current_setting('request.jwt.claims')`. */
  readonly claims: Record<string, unknown>;
  readonly userId: string | null;
}

/** The role that bypasses every check, as in Supabase. */
export const SERVICE_ROLE = 'service_role';

/**
 * The audience of an identity. A token with role `service_role` sees everything. So does a client
 * without any token in development mode (no JWT secret configured), which has no role to check
 * against; a client that presents a JWT in development mode is checked under that JWT's role.
 */
export function audienceOf(identity: Identity, developmentMode: boolean): Audience {
  const claims = identity.claims as Record<string, unknown>;
  const tokenless = Object.keys(claims).length === 0;
  const service = identity.role === SERVICE_ROLE || (developmentMode && tokenless);
  return {
    key: service ? SERVICE_ROLE : `${identity.role}\u0000${JSON.stringify(claims)}`,
    service,
    role: identity.role,
    claims,
    userId: identity.userId,
  };
}
