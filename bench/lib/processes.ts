// Child processes of a benchmark: started pinned to a CPU, awaited until ready, measured (CPU time, RSS) and stopped.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU sets (taskset lists): the server under test gets its own core when there are two or more, a
 * server of several workers every core; BENCH_SERVER_CPUS, BENCH_LOAD_CPUS and BENCH_WORKERS_CPUS
 * set them on a larger machine (e.g. BENCH_LOAD_CPUS=4-7 BENCH_WORKERS_CPUS=0-3).
 */
export const CPU = {
  server: process.env.BENCH_SERVER_CPUS ?? (availableParallelism() >= 2 ? '1' : '0'),
  load: process.env.BENCH_LOAD_CPUS ?? '0',
  all: process.env.BENCH_WORKERS_CPUS ?? `0-${availableParallelism() - 1}`,
} as const;

/** Seconds of CPU (user + system) a process has used so far, read from /proc. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** Seconds of CPU the whole machine has spent busy (user, nice, system, irq, softirq, steal) since boot, read from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLOCK_TICKS_PER_SECOND;
}

/** Resident memory of a process in bytes, read from /proc. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** CPU and memory use of several processes together (e.g. nginx master and worker). */
export function usage(pids: readonly number[]): { cpu: number; rss: number } {
  let cpu = 0;
  let rss = 0;
  for (const pid of pids) {
    cpu += cpuSeconds(pid);
    rss += rssBytes(pid);
  }
  return { cpu, rss };
}

/** Children still running; they are sent SIGTERM if the benchmark exits early (e.g. on an error). */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGTERM');
});

/** The soft and hard limits of open files of this process, from /proc. */
export function openFileLimits(): { soft: number; hard: number } {
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const value = (text: string | undefined) => (text === undefined || text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text));
  return { soft: value(match?.[1]), hard: value(match?.[2]) };
}

/**
 * Starts `command` pinned to `cpus` (through taskset) with stdout piped, stderr kept for errors.
 * `openFiles` raises the child's open-file limit (through prlimit) when this process's is lower; above
 * the hard limit that needs root, and the child then fails to start with prlimit's reason.
 */
export function spawnPinned(
  cpus: string,
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions; openFiles?: number } = {},
): ChildProcess {
  const pinned = ['taskset', '-c', cpus, command, ...args];
  const [program = 'taskset', ...rest] =
    options.openFiles !== undefined && options.openFiles > openFileLimits().soft ? ['prlimit', `--nofile=${options.openFiles}`, ...pinned] : pinned;
  const child = spawn(program, rest, {
    env: options.env ?? process.env,
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/**
 * Resolves with the first stdout line that `ready` accepts (returning a value), or rejects with the
 * child's stderr when it exits first or when `timeoutMs` passes.
 */
export function waitForLine<T>(child: ChildProcess, ready: (line: string) => T | undefined, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let errors = '';
    const timer = setTimeout(() => finish(new Error(`not ready after ${timeoutMs} ms: ${errors.trim().split('\n').at(-1) ?? ''}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const value = ready(line);
        if (value !== undefined) return finish(undefined, value);
      }
    };
    const onError = (chunk: Buffer) => {
      errors = (errors + chunk.toString('utf8')).slice(-4000);
    };
    const onExit = (code: number | null) => finish(new Error(`exited with ${code} before it was ready: ${firstError(errors)}`));
    function finish(error: Error | undefined, value?: T) {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.stdout?.resume();
      if (error) reject(error);
      else resolve(value as T);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onError);
    child.once('exit', onExit);
  });
}

/** The line of a process's stderr that names its error (else its last line). */
function firstError(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return lines.find((line) => /^(error|\w*Error)\b|error:/i.test(line.trim()))?.trim() ?? lines.at(-1) ?? '';
}

/** Sends SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The pid of the process taskset started (taskset execs the command, so it is the child's own pid). */
export function pidOf(child: ChildProcess): number {
  if (child.pid === undefined) throw new Error('the child process did not start');
  return child.pid;
}
