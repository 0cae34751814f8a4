// CPU time of a local PostgreSQL's processes over a measurement, by role: the writers' backends, walsenders, other backends of given databases, background processes.
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { cpuSeconds } from './processes.js';

/** Where PostgreSQL's CPU went. */
export interface ClusterCpuTime {
  /** Backends of connections named `pgbench` (application_name). */
  readonly writers: number;
  readonly walsenders: number;
  /** Other client backends of the databases watched: the server's pool and LISTEN connection. */
  readonly otherBackends: number;
  /** Background processes: WAL writer, checkpointer, background writer, autovacuum. */
  readonly background: number;
}

type Role = keyof ClusterCpuTime;

const SAMPLE_MS = 100;

/**
 * Samples the children of the postmaster every 100 ms from /proc: a process that exits between two
 * samples loses at most its last 100 ms (pgbench's backends exit as it ends). Client backends of
 * databases not watched (other work on the same PostgreSQL) are left out.
 */
export class ClusterCpu {
  private constructor(
    private readonly postmaster: number,
    private readonly admin: pg.Pool,
  ) {}

  /** The PostgreSQL `admin` is connected to, when it runs on this host (else undefined: nothing to sample). */
  static async find(admin: pg.Pool): Promise<ClusterCpu | undefined> {
    const { rows } = await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    try {
      const stat = readFileSync(`/proc/${rows[0]?.pid}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return readFileSync(`/proc/${parent}/cmdline`, 'utf8').includes('postgres') ? new ClusterCpu(parent, admin) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Starts sampling; the returned function stops and answers the CPU seconds used since, by role. */
  start(databases: readonly string[]): () => Promise<ClusterCpuTime> {
    const first = new Map<number, number>();
    const last = new Map<number, number>();
    const roles = new Map<number, Role | null>();
    // Processes seen in the first sample count from there; later ones were born during the measurement.
    let started = false;
    const sample = () => {
      for (const pid of this.children()) {
        const cpu = readCpu(pid);
        if (cpu === undefined) continue;
        if (!first.has(pid)) first.set(pid, started ? 0 : cpu);
        last.set(pid, cpu);
      }
    };
    sample();
    started = true;
    let classifying = Promise.resolve();
    const classify = () => {
      const unknown = [...last.keys()].filter((pid) => !roles.has(pid));
      if (unknown.length === 0) return;
      classifying = classifying
        .then(async () => {
          const { rows } = await this.admin.query<{ pid: number; backend_type: string; application_name: string; datname: string | null }>(
            'SELECT pid, backend_type, application_name, datname FROM pg_catalog.pg_stat_activity WHERE pid = ANY($1)',
            [unknown],
          );
          const known = new Map(rows.map((row) => [row.pid, row]));
          for (const pid of unknown) {
            const row = known.get(pid);
            if (!row) roles.set(pid, roles.get(pid) ?? 'background');
            else if (row.application_name === 'pgbench') roles.set(pid, 'writers');
            else if (row.backend_type === 'walsender') roles.set(pid, 'walsenders');
            else if (row.backend_type === 'client backend') roles.set(pid, row.datname !== null && databases.includes(row.datname) ? 'otherBackends' : null);
            else roles.set(pid, 'background');
          }
        })
        .catch(() => undefined);
    };
    classify();
    const timer = setInterval(() => {
      sample();
      classify();
    }, SAMPLE_MS);
    return async () => {
      clearInterval(timer);
      sample();
      classify();
      await classifying;
      const totals: Record<Role, number> = { writers: 0, walsenders: 0, otherBackends: 0, background: 0 };
      for (const [pid, cpu] of last) {
        const role = roles.get(pid);
        if (role) totals[role] += cpu - (first.get(pid) ?? 0);
      }
      return totals;
    };
  }

  private children(): number[] {
    try {
      return readFileSync(`/proc/${this.postmaster}/task/${this.postmaster}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }
}

function readCpu(pid: number): number | undefined {
  try {
    return cpuSeconds(pid);
  } catch {
    return undefined;
  }
}
