// The inspector's routes: its page (open: it holds no data) under /inspector, and its data at /inspector/api/state for the service role, or anyone in development mode.
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { passesMembership } from '../channel/channel-access.js';
import { authenticate } from '../auth/request-identity.js';
import { readInspectorState, type InspectorStateDeps } from './inspector-state.js';
import type { Authenticator } from '../auth/auth.js';

/** Where the build puts the page (index.html, inspector.js, style.css): the same folder whether this module runs from src/ or dist/. */
const PAGE_DIRECTORY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'inspector-page');

const PAGE_FILES: Record<string, [file: string, type: string]> = {
  '/inspector': ['index.html', 'text/html; charset=utf-8'],
  '/inspector/': ['index.html', 'text/html; charset=utf-8'],
  '/inspector/inspector.js': ['inspector.js', 'text/javascript; charset=utf-8'],
  '/inspector/style.css': ['style.css', 'text/css; charset=utf-8'],
};

const STATE_PATH = '/inspector/api/state';

/** The state route's answer: its status and JSON body. */
interface StateAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** What the inspector's routes read: its state's sources, and the tokens of those who ask for it. */
export type InspectorDeps = InspectorStateDeps & { readonly auth: Pick<Authenticator, 'developmentMode' | 'verify'> };

/** Answers a GET under /inspector; false when `route` is not one of its routes. */
export async function inspectorRoute(
  deps: InspectorDeps,
  request: IncomingMessage,
  response: ServerResponse,
  route: string,
  joinedChannels: () => ReadonlyMap<string, readonly string[]>,
): Promise<boolean> {
  const page = PAGE_FILES[route];
  if (page) {
    await sendPageFile(response, page[0], page[1]);
    return true;
  }
  if (route !== STATE_PATH) return false;
  const refusal = await inspectorRefusal(deps, request);
  const answer: StateAnswer = refusal ?? { status: 200, body: await readInspectorState(deps, joinedChannels) };
  response.writeHead(answer.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(JSON.stringify(answer.body));
  return true;
}

/** Why the request may not read the inspector's data (401 without a valid token, 403 for another role); undefined when it may. */
async function inspectorRefusal(deps: InspectorDeps, request: IncomingMessage): Promise<StateAnswer | undefined> {
  if (deps.auth.developmentMode) return undefined;
  const identity = await authenticate(deps, request);
  if (!identity) return { status: 401, body: { error: 'the inspector needs a valid service-role token (Authorization: Bearer <token>, role "service_role")' } };
  if (!passesMembership(identity)) return { status: 403, body: { error: `the inspector is for the service role; this token's role is "${identity.role}"` } };
  return undefined;
}

async function sendPageFile(response: ServerResponse, file: string, type: string): Promise<void> {
  let body: Buffer;
  try {
    body = await readFile(path.join(PAGE_DIRECTORY, file));
  } catch {
    response.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
    response.end(`the inspector's page is not built (${path.join(PAGE_DIRECTORY, file)} is missing): run npm run build`);
    return;
  }
  response.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
  response.end(body);
}
