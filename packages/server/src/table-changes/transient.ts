// Which failures of delivering table changes are worth retrying: lost connections, not refusals.
import { Refusal } from '../refusal.js';

/**
 * Connection-level failures, worth retrying the batch for: a socket error (no SQLSTATE), or SQLSTATE
 * classes 08 (connection), 53 (resources), 57 (operator intervention). A refusal never is.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof Refusal) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || /^(08|53|57)/.test(code);
}
