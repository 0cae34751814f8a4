// `nself realtime status`: database reachability, schema version, server health and row counts.
import type { Command } from 'commander';
import { currentVersion, describeDatabase, latestVersion, resolveDatabaseUrl, schemaCounts, type SchemaCounts } from '@nself/db';
import { asListing, resolveOutput, type OutputOptions } from '../args.js';
import { connection } from '../context.js';
import { renderJson, say } from '../output.js';

const HEALTH_TIMEOUT_MS = 1000;

interface StatusReport {
  readonly database: { readonly target: string; readonly reachable: boolean; readonly error?: string };
  readonly schema: { readonly installed: number | null; readonly latest: number; readonly state: string };
  readonly server: { readonly url: string; readonly running: boolean };
  readonly counts: SchemaCounts | null;
}

/** Registers `status`. */
export function registerStatusCommand(realtime: Command): void {
  asListing(
    realtime.command('status')
      .description('Show the database, the schema version, whether the server answers, and row counts'),
    ['nself realtime status', 'nself realtime status --json'],
  ).action(async (jsonWord: string | undefined, options: OutputOptions) => {
    const { format } = resolveOutput([jsonWord], options);
    const report = await collectStatus();
    say(format === 'json' ? renderJson(report) : renderStatus(report));
    if (!report.database.reachable) process.exitCode = 1;
  });
}

/** The server's health endpoint, from REALTIME_HOST and REALTIME_PORT. */
export function healthcheckUrl(env: NodeJS.ProcessEnv = process.env): string {
  return `http://${env.REALTIME_HOST || '127.0.0.1'}:${env.REALTIME_PORT || '3100'}/healthcheck`;
}

async function collectStatus(): Promise<StatusReport> {
  const latest = await latestVersion();
  const url = healthcheckUrl();
  const [databaseState, running] = await Promise.all([inspectDatabase(latest), serverAnswers(url)]);
  return { ...databaseState, server: { url, running } };
}

async function inspectDatabase(latest: number): Promise<Omit<StatusReport, 'server'>> {
  let target = 'the configured database';
  try {
    target = describeDatabase(await resolveDatabaseUrl());
    const pool = await connection();
    const installed = await currentVersion(pool);
    const state = installed === 0 ? 'not installed' : installed < latest ? 'outdated' : 'up to date';
    return {
      database: { target, reachable: true },
      schema: { installed, latest, state },
      counts: installed === 0 ? null : await schemaCounts(pool),
    };
  } catch (error) {
    return {
      database: { target, reachable: false, error: (error as Error).message.split('\n')[0] ?? '' },
      schema: { installed: null, latest, state: 'unknown' },
      counts: null,
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
  const width = Math.max(...lines.map(([label]) => label.length));
  return `Realtime status\n${lines.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`).join('\n')}\n`;
}

function schemaLine(schema: StatusReport['schema']): string {
  switch (schema.state) {
    case 'not installed': return `not installed (latest version ${schema.latest}); run \`nself realtime init\``;
    case 'outdated': return `version ${schema.installed}, outdated (latest ${schema.latest}); run \`nself realtime init\``;
    case 'up to date': return `version ${schema.installed} (latest ${schema.latest}), up to date`;
    default: return `unknown (latest version ${schema.latest})`;
  }
}
