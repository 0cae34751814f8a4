// GraphQL errors shaped as Hasura shapes them: a message and `extensions.code` (`validation-failed`, `access-denied`, `invalid-jwt`, …) with a `path`.
import { GraphQLError, type ExecutionResult } from 'graphql';

/** A Hasura-shaped error: `{message, extensions: {code, path}}`. */
export function graphqlError(message: string, code: string, path = '$'): GraphQLError {
  return new GraphQLError(message, { extensions: { path, code } });
}

/** `result` with every error given a Hasura code: the one it has, the database's kind of failure, or `unexpected`. */
export function hasuraErrors(result: ExecutionResult): ExecutionResult {
  if (!result.errors) return result;
  const errors = result.errors.map((error) => {
    const original: (Error & { code?: unknown }) | undefined = error.originalError;
    if (original instanceof GraphQLError && typeof original.extensions['code'] === 'string') return original;
    const code = typeof original?.code === 'string' ? databaseCode(original.code) : typeof error.extensions['code'] === 'string' ? error.extensions['code'] : 'unexpected';
    return new GraphQLError(error.message, { path: error.path ?? undefined, extensions: { path: `$${(error.path ?? []).map((part) => `.${part}`).join('')}`, code } });
  });
  return { ...result, errors };
}

/** Hasura's code for a SQLSTATE. */
function databaseCode(sqlState: string): string {
  if (sqlState === '42501') return 'access-denied';
  if (sqlState.startsWith('22')) return 'data-exception';
  if (sqlState.startsWith('23')) return 'constraint-violation';
  return 'unexpected';
}
