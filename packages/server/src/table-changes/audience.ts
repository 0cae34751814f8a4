// Who a subscription delivers to, as far as table privileges and row-level security are concerned.
import type { Identity } from '../auth/auth.js';

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
 * The audience of an identity. A token with role `service_role` sees everything. A client without
 * any token in development mode (no JWT secret configured) acts as `anonymousRole`, the database's
 * anonymous role when it has one (as Supabase's anon key does); without such a role it sees
 * everything, having no role to be checked against. A client that presents a JWT in development mode
 * is checked under that JWT's role.
 */
export function audienceOf(identity: Identity, developmentMode: boolean, anonymousRole: string | null): Audience {
  const claims = identity.claims as Record<string, unknown>;
  const anonymous = developmentMode && Object.keys(claims).length === 0;
  const service = identity.role === SERVICE_ROLE || (anonymous && anonymousRole === null);
  const role = anonymous && anonymousRole !== null ? anonymousRole : identity.role;
  return {
    key: service ? SERVICE_ROLE : `${role}\u0000${JSON.stringify(claims)}`,
    service,
    role,
    claims,
    userId: identity.userId,
  };
}
