// REST bodies under the JSON limits: too deep, or numbers a 64-bit float cannot keep exactly, are refused with 422 naming the field.
import type { IncomingMessage } from 'node:http';
import { checkJsonText, JsonValueError } from '@nself/protocol';
import type { ServerConfig } from '../config.js';

/** A REST route's answer: its status, and a JSON body when it has one. */
export interface RestAnswer {
  readonly status: number;
  readonly body?: unknown;
}

/**
 * The 422 answer for a JSON request body over the JSON limits, naming the field from `root` (the
 * name of the whole body, '' for none: `messages[0].payload.n`, `payload.n`); undefined when the body is
 * within them, or is not JSON (binary bodies, and invalid JSON, which the route itself reports).
 */
export function refusedJsonBody(deps: { readonly config: Pick<ServerConfig, 'limits'> }, request: IncomingMessage, body: Buffer, root: string): RestAnswer | undefined {
  const type = (request.headers['content-type'] ?? 'application/json').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/octet-stream') return undefined;
  try {
    checkJsonText(body.toString('utf8'), { maxDepth: deps.config.limits.maxJsonDepth });
    return undefined;
  } catch (error) {
    if (!(error instanceof JsonValueError)) throw error;
    const rest = error.path.slice(1);
    const field = root ? `${root}${rest}` : rest.replace(/^\./, '') || 'body';
    return { status: 422, body: { errors: { [field]: [error.problem] } } };
  }
}
