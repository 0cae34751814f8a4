// Starts one operation a socket asked for: a query answered once, a live query, or a `_stream`, each as the connection's session.
import { OperationTypeNode, type ExecutionResult, type GraphQLError } from 'graphql';
import type { ChangeSource } from './changes.js';
import type { GraphQLEngine, GraphQLRequest, Session } from './engine.js';
import { isStreamField } from './engine.js';
import { graphqlError } from './errors.js';
import type { LiveQueries } from './live.js';
import { startStream } from './stream.js';

/** What operations need from the server. */
export interface OperationDeps {
  readonly engine: GraphQLEngine;
  readonly live: LiveQueries;
  readonly changes: ChangeSource;
}

/** Where an operation's outcome goes. */
export interface OperationSink {
  /** A result: the only one of a query, or the next of a subscription. */
  next(result: ExecutionResult): void;
  /** The operation could not start: GraphQL errors; nothing follows. */
  error(errors: readonly GraphQLError[]): void;
  /** A query is done, or a `_stream` ended after an error result (live queries end only when stopped). */
  complete(): void;
}

/**
 * Starts `request` as `session`. Resolves with a function that stops it (for a query, nothing to
 * stop). A subscription has exactly one root field (validation sees to it, as Hasura requires).
 */
export async function startOperation(deps: OperationDeps, session: Session, request: GraphQLRequest, sink: OperationSink): Promise<() => void> {
  const prepared = await deps.engine.prepare(session, request);
  if ('errors' in prepared) {
    sink.error(prepared.errors);
    return () => undefined;
  }
  if (prepared.operation.operation === OperationTypeNode.QUERY) {
    sink.next(await deps.engine.run(session, prepared));
    sink.complete();
    return () => undefined;
  }
  // Validation allowed one root field (through fragments too); a dry execution says whether it is a `_stream`.
  let stream = false;
  await deps.engine.executeWith(prepared, (info) => {
    stream = isStreamField(info);
    return null;
  });
  const next = (result: ExecutionResult) => sink.next(result);
  try {
    if (stream) return await startStream(deps.engine, deps.changes, session, prepared, { next, complete: () => sink.complete() });
    return await deps.live.subscribe(session, prepared, { next });
  } catch (error) {
    sink.error([(error as GraphQLError).extensions ? (error as GraphQLError) : graphqlError((error as Error).message, 'unexpected')]);
    return () => undefined;
  }
}
