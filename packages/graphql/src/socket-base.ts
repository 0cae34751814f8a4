// What both GraphQL WebSocket subprotocols share: the caller's session, its token's expiry, in-band token updates and the running operations.
import type { ExecutionResult, GraphQLError } from 'graphql';
import { checkJsonText, JsonValueError } from '@nself/protocol';
import { sameCaller, type Authorize, type Authorized } from './connection-auth.js';
import type { GraphQLRequest } from './engine.js';
import { graphqlError } from './errors.js';
import { startOperation, type OperationDeps } from './operations.js';

/** The socket a protocol writes to. */
export interface TextSocket {
  send(text: string): void;
  close(code: number, reason: string): void;
}

/** What a GraphQL socket needs from the server. */
export interface GraphQLSocketDeps extends OperationDeps {
  readonly authorize: Authorize;
  /** The socket is closed if `connection_init` has not arrived after this many ms. */
  readonly initTimeoutMs: number;
  /** Deepest nesting of arrays and objects a frame may have. */
  readonly maxJsonDepth: number;
  /** Logs an operation that failed unexpectedly. */
  readonly onUnexpected: (error: unknown) => void;
}

/** Close code and reason when the token of an open socket expires. */
export const TOKEN_EXPIRED = { code: 4403, reason: 'Forbidden: Could not verify JWT: JWTExpired' } as const;

/** Longest operation id accepted, in characters (ids are kept while their operation runs). */
export const MAX_OPERATION_ID_LENGTH = 256;

/** Longest timer node allows; expiries further away are checked again when it fires. */
const MAX_TIMER_MS = 2_147_483_647;

/** Outcome of an in-band token update. */
export type TokenUpdate = { readonly accepted: true; readonly expiresAt: number | null } | { readonly accepted: false; readonly message: string };

/** One client socket speaking a GraphQL subprotocol. */
export abstract class GraphQLSocket {
  protected caller: Authorized | undefined;
  private readonly operations = new Map<string, { stop: (() => void) | undefined; stopped: boolean }>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly initTimer: NodeJS.Timeout;
  protected closed = false;
  /** Start of the current one-second window of operation starts, and the starts in it. */
  private rateWindow = { start: 0, count: 0 };

  constructor(
    protected readonly socket: TextSocket,
    protected readonly deps: GraphQLSocketDeps,
  ) {
    this.initTimer = setTimeout(() => this.close(4408, 'Connection initialisation timeout'), deps.initTimeoutMs);
  }

  /** Handles one text frame from the client. */
  abstract receive(text: string): void;

  /** The socket closed: every operation stops. */
  disconnected(): void {
    this.closed = true;
    clearTimeout(this.initTimer);
    clearTimeout(this.expiryTimer);
    for (const id of [...this.operations.keys()]) this.stop(id);
  }

  protected close(code: number, reason: string): void {
    if (this.closed) return;
    this.socket.close(code, closeReason(reason));
    this.disconnected();
  }

  protected send(message: Record<string, unknown>): void {
    if (!this.closed) this.socket.send(JSON.stringify(message));
  }

  /** The message of a frame, or why it is refused: not JSON, or JSON over the limits (too deep, numbers or strings that would not be kept as sent). */
  protected parseFrame(text: string): { readonly message: unknown } | { readonly refusal: string } {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return { refusal: 'not JSON' };
    }
    try {
      checkJsonText(text, { maxDepth: this.deps.maxJsonDepth });
    } catch (error) {
      if (error instanceof JsonValueError) return { refusal: `${error.problem} at ${error.path}` };
      throw error;
    }
    return { message };
  }

  /** Verifies the `connection_init` payload's credentials; the message of the error when they are refused. */
  protected async initialise(headers: Record<string, string>): Promise<string | undefined> {
    clearTimeout(this.initTimer);
    try {
      this.caller = await this.deps.authorize(headers);
    } catch (error) {
      return (error as Error).message;
    }
    this.watchExpiry();
    return undefined;
  }

  /** Replaces the token of an open socket by a newer one for the same caller (the in-band token update). */
  protected async updateToken(headers: Record<string, string>): Promise<TokenUpdate> {
    if (!this.caller) return { accepted: false, message: 'the connection is not initialised' };
    let renewed: Authorized;
    try {
      renewed = await this.deps.authorize(headers);
    } catch (error) {
      return { accepted: false, message: (error as Error).message };
    }
    if (!sameCaller(this.caller.session, renewed.session))
      return { accepted: false, message: 'the new token is for another role, user or session variables; open a new connection for it' };
    this.caller = renewed;
    this.watchExpiry();
    return { accepted: true, expiresAt: renewed.expiresAt };
  }

  protected isRunning(id: string): boolean {
    return this.operations.has(id);
  }

  /** Starts operation `id`; its results go to `sink` until it stops. */
  protected start(id: string, request: GraphQLRequest, sink: { next(result: ExecutionResult): void; error(errors: readonly GraphQLError[]): void; complete(): void }): void {
    const caller = this.caller;
    if (!caller) return;
    const refusal = this.startRefusal();
    if (refusal) return sink.error([refusal]);
    const state: { stop: (() => void) | undefined; stopped: boolean } = { stop: undefined, stopped: false };
    this.operations.set(id, state);
    const live = () => !state.stopped && this.operations.get(id) === state;
    startOperation(this.deps, caller.session, request, {
      next: (result) => live() && sink.next(result),
      error: (errors) => {
        if (!live()) return;
        this.operations.delete(id);
        sink.error(errors);
      },
      complete: () => {
        if (!live()) return;
        this.operations.delete(id);
        sink.complete();
      },
    }).then(
      (stop) => {
        if (state.stopped) stop();
        else state.stop = stop;
      },
      (error: unknown) => {
        this.deps.onUnexpected(error);
        if (live()) this.close(4500, 'Internal server error');
      },
    );
  }

  /** The error of an operation over the socket's limits: operations running at once, or started this second. */
  private startRefusal(): GraphQLError | undefined {
    const { maxOperationsPerConnection, maxOperationsPerSecond } = this.deps.engine.limits;
    if (this.operations.size >= maxOperationsPerConnection)
      return graphqlError(
        `this connection already runs ${maxOperationsPerConnection} operations (REALTIME_GRAPHQL_MAX_OPERATIONS_PER_CONNECTION); complete one first or open another connection`,
        'operation-limit-exceeded',
      );
    const now = Date.now();
    if (now - this.rateWindow.start >= 1000) this.rateWindow = { start: now, count: 0 };
    if (++this.rateWindow.count > maxOperationsPerSecond)
      return graphqlError(
        `this connection started more than ${maxOperationsPerSecond} operations in a second (REALTIME_GRAPHQL_MAX_OPERATIONS_PER_SECOND); retry later`,
        'rate-limited',
      );
    return undefined;
  }

  /** Stops operation `id`; true when it was running. */
  protected stop(id: string): boolean {
    const state = this.operations.get(id);
    if (!state) return false;
    state.stopped = true;
    this.operations.delete(id);
    state.stop?.();
    return true;
  }

  private watchExpiry(): void {
    clearTimeout(this.expiryTimer);
    const expiresAt = this.caller?.expiresAt;
    if (expiresAt === null || expiresAt === undefined) return;
    const wait = expiresAt * 1000 - Date.now();
    this.expiryTimer = setTimeout(
      () => (wait > MAX_TIMER_MS ? this.watchExpiry() : this.close(TOKEN_EXPIRED.code, TOKEN_EXPIRED.reason)),
      Math.min(Math.max(wait, 0), MAX_TIMER_MS),
    );
  }
}

/** `reason` cut to the 123 bytes a close frame carries, on a character boundary. */
function closeReason(reason: string): string {
  let cut = reason;
  while (Buffer.byteLength(cut) > 123) cut = cut.slice(0, -1);
  return cut;
}
