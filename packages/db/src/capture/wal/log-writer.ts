// The connection the WAL consumer logs through: marked with a replication origin where PostgreSQL can then leave its writes out of the stream.
import pg from 'pg';

/**
 * A connection of the consumer's own. From PostgreSQL 16 on, pgoutput can skip changes made under a
 * replication origin (`origin 'none'`): the consumer's writes to realtime.changes are then not decoded
 * and sent back to it, which otherwise costs the walsender and the consumer as much again as the
 * changes themselves. Marking a session needs the right to call pg_replication_origin_session_setup
 * (a superuser, or a GRANT): without it, or before 16, the writes come back and are skipped by table.
 */
export class LogWriter {
  private constructor(
    readonly client: pg.Client,
    readonly skipsOwnWrites: boolean,
  ) {}

  static async open(connection: pg.ClientConfig, origin: string): Promise<LogWriter> {
    const client = new pg.Client(connection);
    client.on('error', () => undefined);
    await client.connect();
    // The batch statement is prepared; left to choose, PostgreSQL planned it again at every execution
    // (a custom plan looked cheaper), 1.8 ms per batch of one change against 1.0 ms with the generic plan.
    await client.query('SET plan_cache_mode = force_generic_plan');
    // Rows are turned into JSON on this connection: timestamptz values are written in UTC, as hosted
    // Supabase (whose databases run in UTC) sends them, whatever the database's default time zone.
    await client.query("SET TimeZone = 'UTC'");
    const { rows } = await client.query<{ version: number }>("SELECT current_setting('server_version_num')::int AS version");
    if ((rows[0]?.version ?? 0) < 160000) return new LogWriter(client, false);
    try {
      await client.query('SELECT pg_catalog.pg_replication_origin_create($1) WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_origin WHERE roname = $1)', [origin]);
      await client.query('SELECT pg_catalog.pg_replication_origin_session_setup($1)', [origin]);
      return new LogWriter(client, true);
    } catch {
      return new LogWriter(client, false);
    }
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
