// Moderation, membership and channel settings by role, through the SQL functions that enforce the roles (realtime.delete_message,
// remove_member, set_member_role, update_channel, delete_channel), acting for a user, as the service role, or as the operator.
import type pg from 'pg';
import { UserError } from './errors.js';

/** Who acts: a user (their role in the channel decides), the service role, or the operator (the CLI, the schema's owner). */
export type Actor = { readonly kind: 'user'; readonly userId: string } | { readonly kind: 'service' } | { readonly kind: 'operator' };

/** Why the database refused an action: the rules of the roles, something missing, an invalid value, or a full channel. */
export type ModerationRefusalKind = 'forbidden' | 'not_found' | 'invalid' | 'full';

/** A refused moderation or membership action, with the database's message (which names the rule). */
export class ModerationRefusal extends UserError {
  constructor(
    readonly kind: ModerationRefusalKind,
    message: string,
  ) {
    super(message);
  }
}

/** Deletes the message at `offset` of the channel whose topic is `topic`: moderators, admins, the service role and the operator. */
export async function deleteMessageAs(pool: pg.Pool, actor: Actor, topic: string, offset: number): Promise<void> {
  await actAs(pool, actor, 'SELECT realtime.delete_message($1, $2)', [topic, offset]);
}

/** Removes `userId` from the channel: the member themself, a moderator (members only), admins, the service role and the operator. */
export async function removeMemberAs(pool: pg.Pool, actor: Actor, topic: string, userId: string): Promise<void> {
  await actAs(pool, actor, 'SELECT realtime.remove_member($1, $2)', [topic, userId]);
}

/** Adds `userId` to the channel with `role`, or changes their role: admins, the service role and the operator. */
export async function setMemberRoleAs(pool: pg.Pool, actor: Actor, topic: string, userId: string, role: string): Promise<void> {
  await actAs(pool, actor, 'SELECT realtime.set_member_role($1, $2, $3)', [topic, userId, role]);
}

/** Changes a channel's type and/or metadata (undefined leaves one as it is): admins, the service role and the operator. */
export async function updateChannelAs(pool: pg.Pool, actor: Actor, topic: string, change: { readonly type?: string; readonly metadata?: unknown }): Promise<void> {
  await actAs(pool, actor, 'SELECT realtime.update_channel($1, $2, $3::jsonb)', [
    topic,
    change.type ?? null,
    change.metadata === undefined ? null : JSON.stringify(change.metadata),
  ]);
}

/** Deletes a channel with its members, messages and presence: admins, the service role and the operator. */
export async function deleteChannelAs(pool: pg.Pool, actor: Actor, topic: string): Promise<void> {
  await actAs(pool, actor, 'SELECT realtime.delete_channel($1)', [topic]);
}

const REFUSALS: Record<string, ModerationRefusalKind> = {
  '42501': 'forbidden', // insufficient_privilege
  P0002: 'not_found', // no_data_found
  '22023': 'invalid', // invalid_parameter_value
  '23514': 'full', // check_violation: realtime.enforce_max_members
};

/**
 * Runs one statement in a transaction with the actor's claims set as PostgREST sets them (the user's
 * `sub`, or the role `service_role`), so realtime.acting_role sees who acts; the operator sets none.
 */
async function actAs(pool: pg.Pool, actor: Actor, statement: string, values: unknown[]): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const claims = actor.kind === 'user' ? { sub: actor.userId } : actor.kind === 'service' ? { role: 'service_role' } : null;
    if (claims) {
      await client.query("SELECT set_config('request.jwt.claims', $1, true), set_config('request.jwt.claim.sub', $2, true), set_config('request.jwt.claim.role', $3, true)", [
        JSON.stringify(claims),
        actor.kind === 'user' ? actor.userId : '',
        actor.kind === 'service' ? 'service_role' : '',
      ]);
    }
    await client.query(statement, values);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    const { code, message, hint } = error as { code?: string; message: string; hint?: string };
    const kind = code === undefined ? undefined : REFUSALS[code];
    if (kind) throw new ModerationRefusal(kind, hint ? `${message}; ${hint}` : message);
    throw error;
  } finally {
    client.release(broken);
  }
}
