// `nself realtime logs [--follow]`: prints the end of the server's log file and, with --follow, what it adds.
import { open, stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import type { Command } from 'commander';
import { logFilePath, prettyLogs, UserError } from '@nself/db/values';
import { parseNumberArgument, withExamples } from '../args.js';

const DEFAULT_LINES = 100;
const CHUNK_BYTES = 64 * 1024;
const FOLLOW_POLL_MS = 200;

/** Registers `logs`. */
export function registerLogsCommand(realtime: Command): void {
  withExamples(
    realtime
      .command('logs')
      .description(`Show the last lines of the server's log (default ${DEFAULT_LINES}); --follow keeps printing new lines until Ctrl+C`)
      .option('-f, --follow', 'keep printing lines as the server writes them')
      .option('-n, --lines <n>', 'how many of the last lines to print', String(DEFAULT_LINES)),
    ['nself realtime logs', 'nself realtime logs --lines 20', 'nself realtime logs --follow'],
  )
    .addHelpText(
      'after',
      'The log is <state dir>/logs/realtime.log (NSELF_DATA_DIR or ./.nself), or REALTIME_LOG_FILE when set. Lines print readable on a terminal and as JSON when piped; REALTIME_LOG_FORMAT=pretty or json forces one.\n',
    )
    .action(async (options: { follow?: boolean; lines: string }) => {
      const count = parseNumberArgument(options.lines, '--lines', { min: 0, integer: true });
      const file = logFilePath();
      const size = await stat(file).then(
        (info) => info.size,
        () => {
          throw new UserError(`no server log at ${file}; start the server with \`nself realtime start\``);
        },
      );
      const print = await linePrinter();
      print(Buffer.from(await lastLines(file, size, count)));
      if (options.follow) await follow(file, size, print);
    });
}

/** Writes log text to stdout: as it is (JSON lines), or each whole line made readable, a partial last line held until it ends. */
async function linePrinter(): Promise<(chunk: Buffer) => void> {
  if (!prettyLogs(process.env, process.stdout)) return (chunk) => void process.stdout.write(chunk);
  // Loaded only here: the server's modules are not needed for JSON lines.
  const { readableLogLines } = await import('@nself/server/readable-logs');
  const readable = readableLogLines();
  const decoder = new StringDecoder('utf8');
  let partial = '';
  return (chunk) => {
    const lines = (partial + decoder.write(chunk)).split('\n');
    partial = lines.pop() ?? '';
    if (lines.length > 0) process.stdout.write(lines.map(readable).join(''));
  };
}

/** The last `count` lines of the first `size` bytes of a file, read backwards in chunks. */
async function lastLines(file: string, size: number, count: number): Promise<string> {
  if (count === 0 || size === 0) return '';
  const handle = await open(file, 'r');
  try {
    let start = size;
    let text = '';
    while (start > 0) {
      const length = Math.min(CHUNK_BYTES, start);
      start -= length;
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, start);
      text = buffer.toString('latin1') + text;
      if (text.replace(/\n$/, '').split('\n').length > count) break;
    }
    const lines = text.replace(/\n$/, '').split('\n').slice(-count);
    return Buffer.from(`${lines.join('\n')}\n`, 'latin1').toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Prints what is appended after `position` until SIGINT or SIGTERM; starts over when the file shrinks. */
async function follow(file: string, position: number, print: (chunk: Buffer) => void): Promise<void> {
  let offset = position;
  await new Promise<void>((resolve) => {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      readNew(file, offset, print)
        .then(
          (next) => {
            offset = next;
          },
          () => undefined,
        )
        .finally(() => {
          busy = false;
        });
    }, FOLLOW_POLL_MS);
    const stop = () => {
      clearInterval(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

async function readNew(file: string, offset: number, print: (chunk: Buffer) => void): Promise<number> {
  const { size } = await stat(file);
  const from = size < offset ? 0 : offset;
  if (size === from) return from;
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(size - from);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
    print(buffer.subarray(0, bytesRead));
    return from + bytesRead;
  } finally {
    await handle.close();
  }
}
