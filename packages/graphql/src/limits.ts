// The GraphQL endpoint's limits, and the shape check (depth, root fields, fields) every operation passes before validation and SQL.
import { GraphQLError, Kind, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { graphqlError } from './errors.js';

/** Bounds on what one operation, one socket and one HTTP request may ask of the server. */
export interface GraphQLLimits {
  /** Tokens the parser reads of one document before it gives up. */
  readonly maxTokens: number;
  /** Deepest nesting of selections (`{ users { posts { title } } }` is 3). */
  readonly maxDepth: number;
  /** Root fields, aliases included, in one operation. */
  readonly maxRootFields: number;
  /** Fields in one operation, each alias and each use of a fragment counted. */
  readonly maxFields: number;
  /** Rows one list of a result may hold; more is an error, never a shorter list. */
  readonly maxRows: number;
  /** Rows of all the lists of one result together; more is an error, never a shorter result. */
  readonly maxResultRows: number;
  /** Bytes of JSON one result may hold. */
  readonly maxResultBytes: number;
  /** HTTP requests per second per caller (token user, or client address without one). */
  readonly maxRequestsPerSecond: number;
  /** Inserted or updated rows one `_stream` may have waiting to be sent before it ends with an error. */
  readonly maxStreamBacklog: number;
  /** Longest one statement may run, in ms. */
  readonly statementTimeoutMs: number;
  /** Requests in one batched HTTP POST. */
  readonly maxBatch: number;
  /** Operations one socket may run at once. */
  readonly maxOperationsPerConnection: number;
  /** Operations one socket may start per second. */
  readonly maxOperationsPerSecond: number;
}

/**
 * The error of an operation whose shape is over the limits, or undefined when it is within them. Fragments are followed (a
 * fragment already being followed is not entered again, so cycles end) and the walk stops at the
 * first limit crossed, so a document of fragments that multiply costs no more than the limit.
 */
export function shapeError(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  limits: Pick<GraphQLLimits, 'maxDepth' | 'maxRootFields' | 'maxFields'>,
): GraphQLError | undefined {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  let fields = 0;
  const following = new Set<string>();
  const walk = (selectionSet: SelectionSetNode, depth: number): GraphQLError | undefined => {
    for (const selection of selectionSet.selections) {
      let error: GraphQLError | undefined;
      if (selection.kind === Kind.FIELD) {
        if (++fields > limits.maxFields)
          return graphqlError(`the operation selects more than ${limits.maxFields} fields (REALTIME_GRAPHQL_MAX_FIELDS); split it or select fewer fields`, 'validation-failed');
        if (depth > limits.maxDepth)
          return graphqlError(
            `the operation nests selections deeper than ${limits.maxDepth} levels (REALTIME_GRAPHQL_MAX_DEPTH); select fewer nested relationships`,
            'validation-failed',
          );
        if (selection.selectionSet) error = walk(selection.selectionSet, depth + 1);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) error = walk(selection.selectionSet, depth);
      else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (fragment && !following.has(name)) {
          following.add(name);
          error = walk(fragment.selectionSet, depth);
          following.delete(name);
        }
      }
      if (error) return error;
    }
    return undefined;
  };
  const roots = countRootFields(operation.selectionSet, fragments, new Set(), limits.maxRootFields + 1);
  if (roots > limits.maxRootFields)
    return graphqlError(
      `the operation has more than ${limits.maxRootFields} root fields (REALTIME_GRAPHQL_MAX_ROOT_FIELDS), aliases included; split it into several operations`,
      'validation-failed',
    );
  return walk(operation.selectionSet, 1);
}

/** Root fields of a selection set, fragments followed, counted up to `stopAt`. */
function countRootFields(selectionSet: SelectionSetNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>, following: Set<string>, stopAt: number): number {
  let count = 0;
  for (const selection of selectionSet.selections) {
    if (count >= stopAt) break;
    if (selection.kind === Kind.FIELD) count++;
    else if (selection.kind === Kind.INLINE_FRAGMENT) count += countRootFields(selection.selectionSet, fragments, following, stopAt - count);
    else {
      const fragment = fragments.get(selection.name.value);
      if (!fragment || following.has(fragment.name.value)) continue;
      following.add(fragment.name.value);
      count += countRootFields(fragment.selectionSet, fragments, following, stopAt - count);
      following.delete(fragment.name.value);
    }
  }
  return count;
}

/** The error of a list of a result holding more than `maxRows` rows, at `path`. */
export function rowLimitError(maxRows: number, path: readonly (string | number)[]): GraphQLError {
  const where = path.join('.');
  return graphqlError(
    `${where} has more than ${maxRows} rows (REALTIME_GRAPHQL_MAX_ROWS); ask for fewer with "limit" (at most ${maxRows}) or a narrower "where", or page with "offset"`,
    'row-limit-exceeded',
    `$.${where}`,
  );
}

/** The error of a result whose lists, together, hold more than `maxResultRows` rows, raised at the list at `path` that crossed it. */
export function resultRowsError(maxResultRows: number, path: readonly (string | number)[]): GraphQLError {
  const where = path.join('.');
  return graphqlError(
    `the result has more than ${maxResultRows} rows in all its lists (REALTIME_GRAPHQL_MAX_RESULT_ROWS), passed at ${where}; nested lists multiply: give the nested relationships a "limit" or a narrower "where"`,
    'result-limit-exceeded',
    `$.${where}`,
  );
}

/** The error of a result larger than `maxResultBytes` of JSON, at the root field `path` that crossed it. */
export function resultBytesError(maxResultBytes: number, path: readonly (string | number)[]): GraphQLError {
  const where = path.join('.');
  return graphqlError(
    `the result is larger than ${maxResultBytes} bytes of JSON (REALTIME_GRAPHQL_MAX_RESULT_BYTES), passed at ${where}; select fewer rows or columns`,
    'result-limit-exceeded',
    `$.${where}`,
  );
}

/** The error of a statement cancelled by the statement timeout. */
export function statementTimeoutError(timeoutMs: number): GraphQLError {
  return graphqlError(
    `the query ran longer than ${timeoutMs} ms (REALTIME_GRAPHQL_STATEMENT_TIMEOUT_MS) and was cancelled; narrow it with "where" and "limit", or add an index`,
    'statement-timeout',
  );
}
