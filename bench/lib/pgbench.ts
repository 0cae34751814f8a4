// Runs pgbench (PostgreSQL's benchmark tool) with a custom script without blocking the event loop, and reads its TPS.
import { spawn, spawnSync } from 'node:child_process';

/** Whether pgbench is on PATH. */
export function pgbenchAvailable(): boolean {
  return !spawnSync('pgbench', ['--version']).error;
}

/**
 * Starts `writers` connections (application_name `pgbench`) running `script` for `seconds` against
 * `url`; `asyncCommit` runs them with synchronous_commit=off. Resolves with the transactions per
 * second pgbench reports; rejects with its output when it fails.
 */
export async function runPgbench(url: string, script: string, writers: number, seconds: number, asyncCommit: boolean): Promise<number> {
  return (await runPgbenchCounted(url, script, writers, seconds, asyncCommit)).tps;
}

/** As `runPgbench`, with the number of transactions too (pgbench's rate leaves out the time its connections took to open). */
export function runPgbenchCounted(url: string, script: string, writers: number, seconds: number, asyncCommit: boolean): Promise<{ tps: number; transactions: number }> {
  const child = spawn('pgbench', ['-n', '-f', script, '-c', String(writers), '-j', String(Math.min(writers, 2)), '-T', String(seconds), url], {
    env: { ...process.env, PGOPTIONS: asyncCommit ? '-c synchronous_commit=off' : '', PGAPPNAME: 'pgbench' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      const tps = /tps = ([\d.]+)/.exec(output);
      const transactions = /number of transactions actually processed: (\d+)/.exec(output);
      if (code !== 0 || !tps || !transactions) reject(new Error(`pgbench failed (exit ${code}): ${output.trim()}`));
      else resolve({ tps: Number(tps[1]), transactions: Number(transactions[1]) });
    });
  });
}
