// `nself realtime status`: database reachability, schema version, server health, row counts, and the table changes' capture path and slot.
import type { Command } from 'commander';
import type { SchemaCounts, SlotHealth } from '@nself/db';
import { describeDatabase, formatBytes, maskPassword, readSetting } from '@nself/db/values';
import { asListing, resolveOutput, type OutputOptions } from '../args.js';
import { connection, databaseUrl, databaseOperations, allDatabaseOperations } from '../context.js';
import { renderJson, say } from '../output.js';

const HEALTH_TIMEOUT_MS = 1000;

interface StatusReport {
  /**
   * Where the database is and how to connect: the embedded PostgreSQL's URL with its password (local, made by nself),
   * DATABASE_URL's with the password masked (`nself realtime db url --show-password` prints it).
   */
  readonly database: { readonly target: string; readonly url: string | null; readonly embedded: boolean; readonly reachable: boolean; readonly error?: string };
  readonly schema: { readonly installed: number | null; readonly latest: number; readonly state: string };
  readonly server: { readonly url: string; readonly running: boolean };
  readonly counts: SchemaCounts | null;
  /** The capture path and the replication slot, with what to act on; null until the schema is current. */
  readonly tableChanges: (SlotHealth & { readonly warnings: readonly string[] }) | null;
}

/** Registers `status`. */
export function registerStatusCommand(realtime: Command): void {
  asListing(
    realtime
      .command('status')
      .description('Show the database, the schema version, whether the server answers, row counts, and how table changes are captured (the replication slot and its lag)'),
    ['nself realtime status', 'nself realtime status --json'],
  ).action(async (jsonWord: string | undefined, options: OutputOptions) => {
    const { format } = resolveOutput([jsonWord], options);
    const report = await collectStatus(readSetting(process.env, 'REALTIME_SLOT_STALE_SECONDS'));
    say(format === 'json' ? renderJson(report) : renderStatus(report));
    if (!report.database.reachable) process.exitCode = 1;
  });
}

/** The server's health endpoint, from REALTIME_HOST (else this machine) and REALTIME_PORT. */
export function healthcheckUrl(env: NodeJS.ProcessEnv = process.env): string {
  return `http://${readSetting(env, 'REALTIME_HOST') ?? '127.0.0.1'}:${readSetting(env, 'REALTIME_PORT')}/healthcheck`;
}

/** Everything `status` reports; a slot unread for longer than `staleSeconds` is a warning. */
async function collectStatus(staleSeconds: number): Promise<StatusReport> {
  const { latestVersion } = await databaseOperations();
  const latest = await latestVersion();
  const url = healthcheckUrl();
  const [databaseState, running] = await Promise.all([inspectDatabase(latest, staleSeconds), serverAnswers(url)]);
  return { ...databaseState, server: { url, running } };
}

async function inspectDatabase(latest: number, staleSeconds: number): Promise<Omit<StatusReport, 'server'>> {
  const { currentVersion, readSlotHealth, schemaCounts, slotWarnings } = await allDatabaseOperations();
  let target = 'the configured database';
  let url: string | null = null;
  const embedded = !readSetting(process.env, 'DATABASE_URL');
  try {
    const resolved = await databaseUrl();
    target = describeDatabase(resolved);
    url = embedded ? resolved : maskPassword(resolved);
    const pool = await connection();
    const installed = await currentVersion(pool);
    const state = installed === 0 ? 'not installed' : installed < latest ? 'outdated' : 'up to date';
    const health = state === 'up to date' ? await readSlotHealth(pool) : null;
    return {
      database: { target, url, embedded, reachable: true },
      schema: { installed, latest, state },
      counts: installed === 0 ? null : await schemaCounts(pool),
      tableChanges: health && { ...health, warnings: slotWarnings(health, staleSeconds) },
    };
  } catch (error) {
    return {
      database: { target, url, embedded, reachable: false, error: (error as Error).message.split('\n')[0] ?? '' },
      schema: { installed: null, latest, state: 'unknown' },
      counts: null,
      tableChanges: null,
    };
  }
}

async function serverAnswers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

function renderStatus(report: StatusReport): string {
  const { database, schema, server, counts } = report;
  const lines: [string, string][] = [
    ['database', database.reachable ? `${database.target}: reachable` : `${database.target}: unreachable (${database.error})`],
    ['url', urlLine(database)],
    ['schema', schemaLine(schema)],
    ['server', `${server.running ? 'running' : 'not running'} (${server.url})`],
  ];
  if (counts) {
    lines.push(
      ['channels', String(counts.channels)],
      ['members', String(counts.members)],
      ['messages', String(counts.messages)],
      ['present users', String(counts.present)],
      ['subscriptions', String(counts.subscriptions)],
      ['connections', String(counts.connections)],
    );
  }
  const text = `Realtime status\n${aligned(lines)}`;
  return report.tableChanges ? `${text}\nTable changes\n${aligned(tableChangesLines(report.tableChanges))}` : text;
}

function urlLine(database: StatusReport['database']): string {
  if (database.url === null) return 'unknown';
  if (!database.embedded) return `${database.url} (DATABASE_URL; nself realtime db url --show-password prints the password)`;
  return `${database.url} (embedded; nself realtime db start keeps it running for other clients)`;
}

function aligned(lines: readonly [string, string][]): string {
  const width = Math.max(...lines.map(([label]) => label.length));
  return lines.map(([label, value]) => `  ${label.padEnd(width)}  ${value}\n`).join('');
}

function tableChangesLines(health: NonNullable<StatusReport['tableChanges']>): [string, string][] {
  const { slot } = health;
  const lines: [string, string][] = [['path', `${health.path}: ${health.reason}`]];
  if (slot.exists) {
    const since = slot.secondsSinceRead === null ? 'no read on record' : `last read ${Math.round(slot.secondsSinceRead)} s ago`;
    lines.push(
      ['slot', `${slot.name}, ${slot.active ? `active (read by backend pid ${slot.activePid})` : 'not active (no consumer reads it)'}`],
      ['lag', `${formatBytes(slot.lagBytes ?? 0)} not yet confirmed, ${formatBytes(slot.retainedBytes ?? 0)} of WAL retained; ${since}`],
      ['wal_status', `${slot.walStatus ?? 'unknown'} (max_slot_wal_keep_size ${health.maxSlotWalKeepBytes === null ? 'unlimited' : formatBytes(health.maxSlotWalKeepBytes)})`],
    );
  } else {
    lines.push(['slot', `${slot.name}: does not exist`]);
  }
  for (const warning of health.warnings) lines.push(['WARNING', warning]);
  return lines;
}

function schemaLine(schema: StatusReport['schema']): string {
  switch (schema.state) {
    case 'not installed':
      return `not installed (latest version ${schema.latest}); run \`nself realtime init\``;
    case 'outdated':
      return `version ${schema.installed}, outdated (latest ${schema.latest}); run \`nself realtime init\``;
    case 'up to date':
      return `version ${schema.installed} (latest ${schema.latest}), up to date`;
    default:
      return `unknown (latest version ${schema.latest})`;
  }
}
