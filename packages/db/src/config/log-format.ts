// How log lines print for people: the choice between readable lines and JSON, and the readable lines' layout.
import { readSetting } from './read.js';

/** Whether log lines written to `stream` print readable (REALTIME_LOG_FORMAT=pretty, or auto on a terminal) rather than as JSON. */
export function prettyLogs(env: NodeJS.ProcessEnv, stream: { readonly isTTY?: boolean }): boolean {
  const format = readSetting(env, 'REALTIME_LOG_FORMAT');
  return format === 'pretty' || (format === 'auto' && stream.isTTY === true);
}

/**
 * The readable layout (pino-pretty's options): `[2026-01-30 10:30:00.123 +0100] INFO: [server.listening] realtime server listening`,
 * the time local with its UTC offset, then the entry's other fields, one per line.
 */
export const PRETTY_LOG_OPTIONS = {
  translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l o',
  ignore: 'pid,hostname,code',
  messageFormat: '{if code}[{code}] {end}{msg}',
  singleLine: false,
} as const;
