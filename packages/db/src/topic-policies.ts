// Supabase's authorisation of a topic: what the row-level security policies on realtime.messages let a
// role do there, asked with probe rows in a transaction that is always rolled back.
import { randomInt, randomUUID } from 'node:crypto';
import type pg from 'pg';

/** What the policies let a role do with one extension of a topic. */
export interface ExtensionGrants {
  /** Receive: broadcasts, or presence state and diffs. */
  readonly read: boolean;
  /** Send broadcasts, or track presence. */
  readonly write: boolean;
}

/** What the policies on realtime.messages let a role do on a topic, per extension (Supabase's two). */
export interface TopicGrants {
  readonly broadcast: ExtensionGrants;
  readonly presence: ExtensionGrants;
}

/** Who the policies are evaluated for: a role, and the claims policies read. */
export interface PolicySubject {
  /** The PostgreSQL role the policies are evaluated as (the token's `role` claim). */
  readonly role: string;
  /** The token's claims: `request.jwt.claims`, and `auth.uid()` through their `sub`. */
  readonly claims: Record<string, unknown>;
  readonly userId: string | null;
  /** Whether the token's signature was checked: an unchecked one gains nothing from a role that bypasses row-level security. */
  readonly verified: boolean;
}

/** The outcome of a probe: the grants, and why the probe could not ask the policies when it could not. */
export interface PolicyAnswer {
  readonly grants: TopicGrants;
  /** Set when the policies could not be asked (unknown role, a policy that raised an error): for the server's log. */
  readonly problem?: string;
}

export const NO_GRANTS: TopicGrants = { broadcast: { read: false, write: false }, presence: { read: false, write: false } };

const EXTENSIONS = ['broadcast', 'presence'] as const;
type Extension = (typeof EXTENSIONS)[number];

/** The event type of probe rows; they are never committed. */
const PROBE_EVENT = 'realtime.authorization';
/** How long the policies may take to answer, in milliseconds. */
const PROBE_TIMEOUT_MS = 5_000;
/** PostgreSQL's insufficient_privilege: a policy's WITH CHECK refused the row, or the role may not insert at all. */
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * Asks the row-level security policies on realtime.messages what `subject` may do on `topic`, as
 * Supabase Realtime does: as the server's user, one probe row per extension is inserted with the topic
 * and extension set (in the topic's channel, `channelId`, or in one made for the probe when the topic
 * has none yet); then, as the subject's role with `realtime.topic` and the JWT claims set, a read is
 * granted when the role sees its probe row, and a write when the role may insert one. Everything is
 * rolled back, so nothing is stored. A role that does not exist, or a policy that fails, grants nothing.
 */
export async function probeTopicPolicies(pool: pg.Pool, topic: string, channelId: string | null, subject: PolicySubject): Promise<PolicyAnswer> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const {
      rows: [role],
    } = await client.query<{ bypasses: boolean }>('SELECT rolsuper OR rolbypassrls AS bypasses FROM pg_roles WHERE rolname = $1', [subject.role]);
    if (!role) return { grants: NO_GRANTS, problem: `the token's role "${subject.role}" does not exist in the database` };
    if (role.bypasses && !subject.verified) {
      return { grants: NO_GRANTS, problem: `role "${subject.role}" bypasses row-level security and the token's signature was not checked` };
    }
    const channel = channelId ?? (await channelForProbe(client, topic));
    const probeIds = { broadcast: randomUUID(), presence: randomUUID() };
    await client.query(
      `INSERT INTO realtime.messages (id, channel_id, channel_offset, event_type, payload, topic, extension)
       SELECT probe.id, $2, probe.channel_offset, $3, '{}'::jsonb, $4, probe.extension
         FROM unnest($1::uuid[], $5::bigint[], $6::text[]) AS probe(id, channel_offset, extension)`,
      [EXTENSIONS.map((extension) => probeIds[extension]), channel, PROBE_EVENT, topic, EXTENSIONS.map(probeOffset), EXTENSIONS],
    );
    try {
      await client.query(
        `SELECT set_config('statement_timeout', $6, true), set_config('role', $1, true), set_config('realtime.topic', $2, true),
                set_config('request.jwt.claims', $3, true), set_config('request.jwt.claim.sub', $4, true),
                set_config('request.jwt.claim.role', $1, true), set_config('request.headers', $5, true)`,
        [subject.role, topic, JSON.stringify(subject.claims), subject.userId ?? '', '{}', String(PROBE_TIMEOUT_MS)],
      );
    } catch (error) {
      return { grants: NO_GRANTS, problem: `the server's database user may not act as role "${subject.role}": ${messageOf(error)}` };
    }
    const problems: string[] = [];
    const readable =
      (await attempt(client, problems, 'read', async () => {
        const { rows } = await client.query<{ id: string }>('SELECT id FROM realtime.messages WHERE id = ANY ($1::uuid[])', [Object.values(probeIds)]);
        return new Set(rows.map((row) => row.id));
      })) ?? new Set<string>();
    const writable = new Set<Extension>();
    for (const extension of EXTENSIONS) {
      const inserted = await attempt(client, problems, `${extension} write`, async () => {
        await client.query(`INSERT INTO realtime.messages (channel_id, channel_offset, event_type, payload, topic, extension) VALUES ($1, $2, $3, '{}'::jsonb, $4, $5)`, [
          channel,
          probeOffset(),
          PROBE_EVENT,
          topic,
          extension,
        ]);
        return true;
      });
      if (inserted) writable.add(extension);
    }
    const grant = (extension: Extension): ExtensionGrants => ({ read: readable.has(probeIds[extension]), write: writable.has(extension) });
    return { grants: { broadcast: grant('broadcast'), presence: grant('presence') }, ...(problems.length > 0 ? { problem: problems.join('; ') } : {}) };
  } catch (error) {
    broken = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    await client.query('ROLLBACK').catch((error: unknown) => {
      broken ??= error instanceof Error ? error : new Error(String(error));
    });
    client.release(broken);
  }
}

/** Whether the grants let the role receive anything on the topic (what a join needs, as on Supabase). */
export function readsAny(grants: TopicGrants): boolean {
  return grants.broadcast.read || grants.presence.read;
}

/**
 * Runs one question to the policies in a savepoint: its answer, or undefined when the policies said no
 * (a row-level security refusal, or no privilege) or failed, which is added to `problems`.
 */
async function attempt<T>(client: pg.PoolClient, problems: string[], question: string, ask: () => Promise<T>): Promise<T | undefined> {
  await client.query('SAVEPOINT policy_probe');
  try {
    const answer = await ask();
    await client.query('RELEASE SAVEPOINT policy_probe');
    return answer;
  } catch (error) {
    await client.query('ROLLBACK TO SAVEPOINT policy_probe');
    if ((error as { code?: string }).code !== INSUFFICIENT_PRIVILEGE) problems.push(`${question}: ${messageOf(error)}`);
    return undefined;
  }
}

/** The topic's channel, or one made inside the probe's transaction (rolled back with it) when it has none. */
async function channelForProbe(client: pg.PoolClient, topic: string): Promise<string> {
  const find = async () => (await client.query<{ id: string }>('SELECT id FROM realtime.channels WHERE slug = $1', [topic])).rows[0]?.id;
  const existing = await find();
  if (existing) return existing;
  const {
    rows: [made],
  } = await client.query<{ id: string }>(
    `INSERT INTO realtime.channels (slug, name, type, created_by_join) VALUES ($1, $1, 'private', true)
     ON CONFLICT (slug) DO NOTHING RETURNING id`,
    [topic],
  );
  // Made by someone else since the first look: it is committed, so this statement sees it.
  const id = made?.id ?? (await find());
  if (!id) throw new Error(`the channel of topic "${topic}" could neither be found nor made for an authorisation probe`);
  return id;
}

/** An offset no stored message has (stored offsets are positive), random so that concurrent probes of one channel never wait on each other. */
function probeOffset(): number {
  return -randomInt(1, 2 ** 47);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
