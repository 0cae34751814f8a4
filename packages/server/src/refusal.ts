// The server's one error type for what it refuses: a code from the catalogue below (docs/errors.md) and the text the client sees.
import { ConnectError, JoinError, SystemMessage } from '@nself/protocol';

/** Every kind of refusal the server raises, with what it means; the codes are stable and documented in docs/errors.md. */
export const REFUSALS = {
  InvalidJoinPayload: 'a field of a join payload cannot be accepted (a presence key too long, a resume offset that is not a whole number); the message is the join reply reason',
  InvalidBinding: 'a `config.postgres_changes` entry of a join is not a binding; the message is the join reply reason',
  InvalidReplay: "a join's `config.broadcast.replay` is not valid; the message is the join reply reason",
  InvalidToken: 'a token cannot be accepted (missing, expired, malformed, badly signed, without the claims it needs); each place reports it with its own catalogue text',
  InvalidFilter: 'a `postgres_changes` filter cannot be read; it refuses the subscription (SubscriptionRefused)',
  TableAccessDenied:
    "the subscriber's role may not read a table, or the server may not act as that role; it refuses the subscription, or withholds the table's changes from that role",
  SubscriptionRefused: 'a `postgres_changes` subscription cannot be made; the message is the `system` error the channel receives',
  FilterBudgetExceeded: "judging filters for one batch took longer than REALTIME_FILTER_BUDGET_MS; those filters' bindings receive nothing from the batch",
} as const;

export type RefusalCode = keyof typeof REFUSALS;

export type TokenProblem = 'missing' | 'expired' | 'missingClaims' | 'malformed' | 'signature' | 'invalidExpiration';

/** What is wrong with a token, for the InvalidToken refusal. */
export interface TokenFault {
  readonly problem: TokenProblem;
  /** For an expired token: how long ago it expired. */
  readonly secondsAgo: number;
}

type Detail<C extends RefusalCode> = C extends 'InvalidToken' ? [fault: TokenFault] : [];

/** Something the server refuses; `code` says which catalogue entry, the message is what the client is told. */
export class Refusal<C extends RefusalCode = RefusalCode> extends Error {
  override readonly name = 'Refusal';
  readonly detail: Detail<C>;
  constructor(
    readonly code: C,
    message: string,
    ...detail: Detail<C>
  ) {
    super(message);
    this.detail = detail;
  }
}

/** True for a Refusal with one of `codes` (any code when none is given). */
export function isRefusal<C extends RefusalCode>(error: unknown, ...codes: C[]): error is Refusal<C> {
  return error instanceof Refusal && (codes.length === 0 || (codes as RefusalCode[]).includes((error as Refusal).code));
}

/** The InvalidToken refusal for `problem`. */
export function tokenRefusal(problem: TokenProblem, secondsAgo = 0): Refusal<'InvalidToken'> {
  return new Refusal('InvalidToken', problem, { problem, secondsAgo });
}

/** The join reply reason for a refused token. */
export function tokenJoinReason({ detail: [fault] }: Refusal<'InvalidToken'>): string {
  switch (fault.problem) {
    case 'expired':
      return JoinError.tokenExpired(fault.secondsAgo);
    case 'missingClaims':
    case 'missing':
      return JoinError.missingClaims;
    case 'signature':
      return JoinError.signatureError;
    case 'invalidExpiration':
      return JoinError.invalidExpiration;
    case 'malformed':
      return JoinError.malformedJwt;
  }
}

/** The message of the `system` event that closes a channel whose refreshed token is refused. */
export function tokenSystemMessage({ detail: [fault] }: Refusal<'InvalidToken'>): string {
  switch (fault.problem) {
    case 'expired':
      return SystemMessage.tokenExpired(fault.secondsAgo);
    case 'missingClaims':
    case 'missing':
    case 'invalidExpiration':
      return SystemMessage.missingClaims;
    case 'signature':
      return SystemMessage.signatureError;
    case 'malformed':
      return SystemMessage.malformedJwt;
  }
}

/** The HTTP status and `{"error"}` text for an upgrade whose token is refused. */
export function tokenConnectError({ detail: [fault] }: Refusal<'InvalidToken'>): { status: number; error: string } {
  switch (fault.problem) {
    case 'missing':
      return ConnectError.apiKeyMissing;
    case 'expired':
      return ConnectError.tokenExpired;
    case 'missingClaims':
    case 'invalidExpiration':
      return ConnectError.missingClaims;
    case 'signature':
      return ConnectError.signatureError;
    case 'malformed':
      return ConnectError.malformedJwt;
  }
}
