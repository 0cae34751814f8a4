// Runs GraphQL operations: the role's schema, parsing and validation, and each root field's one statement in a transaction as the role.
import {
  execute,
  getNamedType,
  GraphQLError,
  isObjectType,
  Kind,
  OperationTypeNode,
  parse,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLFieldResolver,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import pg from 'pg';
import type { Pool, PoolClient } from '@nself/db';
import { readCatalog } from './catalog.js';
import { fieldReads, type FieldReads } from './change-filter.js';
import { Compiler, meaningOf, tableKey, type Statement, type TableRef } from './compile.js';
import { resultBytesError, resultRowsError, rowLimitError, shapeError, statementTimeoutError, type GraphQLLimits } from './limits.js';
import { buildSchema } from './schema.js';
import { graphqlError, hasuraErrors } from './errors.js';

/** Who runs an operation: a PostgreSQL role (null: the server's own user, for the admin secret) and the claims policies read. */
export interface Session {
  readonly role: string | null;
  /** The token's claims, set as `request.jwt.claims`. */
  readonly claims: Record<string, unknown>;
  /** Hasura's session variables (`x-hasura-role`, `x-hasura-user-id`, …), set as `hasura.user`. */
  readonly variables: Record<string, string>;
  readonly userId: string | null;
}

/** A GraphQL request as clients send it. */
export interface GraphQLRequest {
  readonly query: string;
  readonly variables?: Record<string, unknown> | null;
  readonly operationName?: string | null;
}

/** A request parsed and validated against the session's schema. */
export interface PreparedOperation {
  readonly schema: GraphQLSchema;
  readonly document: DocumentNode;
  readonly operation: OperationDefinitionNode;
  readonly request: GraphQLRequest;
}

/** What the root field resolver does in one execution; `execution` is for the engine's own bounds. */
export type RootAction = (info: GraphQLResolveInfo, execution: Execution) => unknown;

/** One execution's context: what its root fields do, and how much of the result bounds it has used. */
export interface Execution {
  readonly action: RootAction;
  /** Rows of every list resolved so far. */
  rows: number;
  /** Bytes of JSON of every root field read so far. */
  bytes: number;
  /** The error of the first result bound crossed: the result is refused whole, as a shorter one would mislead. */
  overLimit: GraphQLError | undefined;
}

/** Options of the engine. */
export interface EngineOptions {
  /** The schemas whose tables and views are exposed. */
  readonly schemas: readonly string[];
  /** How long a role's schema is reused before the catalog is read again, in ms. */
  readonly schemaTtlMs?: number;
  /** Bounds on operations, their statements and the sockets running them (the server's settings). */
  readonly limits: GraphQLLimits;
}

const DEFAULT_SCHEMA_TTL_MS = 5_000;

/** Schemas per role, operations prepared against them, and statements run as the session's role. */
export class GraphQLEngine {
  private readonly schemas = new Map<string, { readonly at: number; readonly schema: Promise<GraphQLSchema> }>();
  readonly limits: GraphQLLimits;
  /** Every field below a root field reads its response key from the root field's JSON; a list of rows past `maxRows` or `maxResultRows` is an error. */
  private readonly readByResponseKey: GraphQLFieldResolver<unknown, unknown>;

  constructor(
    readonly pool: Pool,
    private readonly options: EngineOptions,
  ) {
    this.limits = options.limits;
    this.readByResponseKey = (source, _args, context, info) => this.checkRows((source as Record<string, unknown> | null)?.[info.path.key as string], info, context as Execution);
  }

  /** A compiler for the root field `info`, its lists bounded by `maxRows` and its JSON measured against `maxResultBytes`. */
  compiler(info: ConstructorParameters<typeof Compiler>[0]): Compiler {
    return new Compiler(info, this.limits.maxRows, this.limits.maxResultBytes);
  }

  /** Runs `statement` on `client`; a statement cancelled by the timeout is a GraphQL error naming it. */
  async query<Row extends Record<string, unknown>>(client: PoolClient, statement: Statement): Promise<Row[]> {
    try {
      return (await client.query<Row>(statement.text, statement.values)).rows;
    } catch (error) {
      if ((error as { code?: string }).code === QUERY_CANCELED) throw statementTimeoutError(this.limits.statementTimeoutMs);
      throw error;
    }
  }

  /**
   * `value`, counted against the execution's result rows when it is a list of rows; an error when that
   * list is longer than `maxRows`, or brings the result's rows past `maxResultRows` (nested lists multiply).
   */
  checkRows(value: unknown, info: Pick<GraphQLResolveInfo, 'returnType' | 'path'>, execution: Execution): unknown {
    if (!Array.isArray(value) || !isObjectType(getNamedType(info.returnType))) return value;
    if (value.length > this.limits.maxRows) throw rowLimitError(this.limits.maxRows, responsePath(info.path));
    execution.rows += value.length;
    if (execution.rows > this.limits.maxResultRows) throw (execution.overLimit ??= resultRowsError(this.limits.maxResultRows, responsePath(info.path)));
    return value;
  }

  /** The `data` of a root field's row; an error when its JSON, with the root fields read before it, is over `maxResultBytes`. */
  private checkBytes(row: { data: unknown; bytes: number | null } | undefined, info: Pick<GraphQLResolveInfo, 'path'>, execution: Execution): unknown {
    execution.bytes += row?.bytes ?? 0;
    if (execution.bytes > this.limits.maxResultBytes) throw (execution.overLimit ??= resultBytesError(this.limits.maxResultBytes, responsePath(info.path)));
    return row?.data ?? null;
  }

  /** The schema of `role`: the relations it may select, read from the catalog at most every few seconds. */
  schemaFor(role: string | null): Promise<GraphQLSchema> {
    const key = role ?? '';
    const known = this.schemas.get(key);
    if (known && Date.now() - known.at < (this.options.schemaTtlMs ?? DEFAULT_SCHEMA_TTL_MS)) return known.schema;
    const schema = readCatalog(this.pool, this.options.schemas, role)
      .then((relations) => buildSchema(relations, resolveRoot))
      .catch((error: unknown) => {
        this.schemas.delete(key);
        const code = (error as { code?: string }).code;
        if (code === '42704' || code === '22023')
          throw graphqlError(`the role "${role}" does not exist in the database; create it and grant it SELECT on the tables it may read`, 'access-denied');
        throw error;
      });
    this.schemas.set(key, { at: Date.now(), schema });
    return schema;
  }

  /** Parses and validates `request` for `session`; GraphQL errors (Hasura-shaped) when it is not a valid operation. */
  async prepare(session: Session, request: GraphQLRequest): Promise<PreparedOperation | { errors: GraphQLError[] }> {
    if (typeof request.query !== 'string' || request.query.trim() === '')
      return { errors: [graphqlError('the request has no "query": expected {"query": "...", "variables": {...}}', 'validation-failed')] };
    let document: DocumentNode;
    try {
      document = parse(request.query, { maxTokens: this.limits.maxTokens });
    } catch (error) {
      const message = (error as GraphQLError).message;
      if (message.endsWith('Parsing aborted.'))
        return { errors: [graphqlError(`the document has more than ${this.limits.maxTokens} tokens (REALTIME_GRAPHQL_MAX_TOKENS); send a smaller one`, 'validation-failed')] };
      return { errors: [graphqlError(message, 'validation-failed')] };
    }
    // The shape is checked before validation, whose cost grows faster than the number of fields.
    for (const definition of document.definitions) {
      const tooLarge = definition.kind === Kind.OPERATION_DEFINITION ? shapeError(document, definition, this.limits) : undefined;
      if (tooLarge) return { errors: [tooLarge] };
    }
    let schema: GraphQLSchema;
    try {
      schema = await this.schemaFor(session.role);
    } catch (error) {
      if (error instanceof GraphQLError) return { errors: [error] };
      throw error;
    }
    const invalid = validate(schema, document);
    if (invalid.length > 0) return { errors: invalid.map((error) => graphqlError(error.message, 'validation-failed')) };
    const operations = document.definitions.filter((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION);
    const operation = request.operationName ? operations.find((candidate) => candidate.name?.value === request.operationName) : operations.length === 1 ? operations[0] : undefined;
    if (!operation) {
      const message = request.operationName ? `no operation named "${request.operationName}" in the document` : 'the document has several operations; name one in "operationName"';
      return { errors: [graphqlError(message, 'validation-failed')] };
    }
    if (operation.operation === OperationTypeNode.MUTATION)
      return { errors: [graphqlError('mutations are not served here: this server answers queries and subscriptions', 'validation-failed')] };
    return { schema, document, operation, request };
  }

  /**
   * Executes a prepared operation with `action` resolving each root field (the other fields read the root field's JSON by response key).
   * A result over `maxResultRows` or `maxResultBytes` is refused whole: no data, only the error.
   */
  async executeWith(prepared: PreparedOperation, action: RootAction): Promise<ExecutionResult> {
    const execution: Execution = { action, rows: 0, bytes: 0, overLimit: undefined };
    const result = await execute({
      schema: prepared.schema,
      document: prepared.document,
      operationName: prepared.operation.name?.value ?? null,
      variableValues: prepared.request.variables ?? null,
      contextValue: execution,
      fieldResolver: this.readByResponseKey,
    });
    if (execution.overLimit) return { data: null, errors: [execution.overLimit] };
    return hasuraErrors(result);
  }

  /**
   * The relations `prepared` reads and what changes to them can do to each root field's result, found
   * by compiling its root fields without running them; the errors compiling raised.
   */
  async tablesOf(prepared: PreparedOperation): Promise<{ tables: TableRef[]; fields: FieldReads[]; errors: GraphQLError[] }> {
    const tables = new Map<string, TableRef>();
    const fields: FieldReads[] = [];
    const errors: GraphQLError[] = [];
    await this.executeWith(prepared, (info) => {
      try {
        const compiler = this.compiler(info);
        const statement = isStreamField(info) ? compiler.compileStream({ kind: 'page', after: null, furthest: null }) : compiler.compile();
        for (const table of statement.tables) tables.set(tableKey(table), table);
        fields.push(fieldReads(info, statement));
      } catch (error) {
        errors.push(error instanceof GraphQLError ? error : graphqlError((error as Error).message, 'unexpected'));
      }
      return null;
    });
    return { tables: [...tables.values()], fields, errors };
  }

  /** Runs a query (or one evaluation of a live query) as the session, in one read-only transaction. */
  run(session: Session, prepared: PreparedOperation): Promise<ExecutionResult> {
    return this.asSession(session, (client) => {
      // Root fields resolve concurrently; their statements take turns on the one connection.
      let turn: Promise<unknown> = Promise.resolve();
      return this.executeWith(prepared, async (info, execution) => {
        const statement = this.compiler(info).compile();
        const query = turn.then(() => this.query<{ data: unknown; bytes: number | null }>(client, statement));
        turn = query.catch(() => undefined);
        const rows = await query;
        return this.checkRows(this.checkBytes(rows[0], info, execution), info, execution);
      });
    }).catch((error: unknown) => ({ errors: [error instanceof GraphQLError ? error : graphqlError((error as Error).message, 'unexpected')] }));
  }

  /** Runs `work` in a read-only transaction as the session's role, with its claims and session variables set. */
  async asSession<T>(session: Session, work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN READ ONLY');
      try {
        // One round trip: the statement timeout, the claims, then the role (set last, as set_config('role') is SET LOCAL ROLE).
        await client.query(
          `SELECT set_config('statement_timeout', $5, true), set_config('request.jwt.claims', $1, true), set_config('request.jwt.claim.sub', $2, true),
                  set_config('hasura.user', $3, true), set_config('request.jwt.claim.role', coalesce($4, current_user), true),
                  CASE WHEN $4 IS NOT NULL THEN set_config('role', $4, true) END`,
          [JSON.stringify(session.claims), session.userId ?? '', JSON.stringify(session.variables), session.role, `${this.limits.statementTimeoutMs}ms`],
        );
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === '22023' || code === '42704') throw graphqlError(`the role "${session.role}" does not exist in the database`, 'access-denied');
        if (code === '42501')
          throw graphqlError(
            `the server's database user may not act as role "${session.role}"; GRANT ${pg.escapeIdentifier(session.role ?? '')} TO the server's user`,
            'access-denied',
          );
        throw error;
      }
      return await work(client);
    } catch (error) {
      if ((error as { code?: string }).code === undefined) throw error;
      throw databaseError(error as Error & { code: string }, this.limits.statementTimeoutMs);
    } finally {
      await client.query('ROLLBACK').catch((error: unknown) => {
        broken = error instanceof Error ? error : new Error(String(error));
      });
      client.release(broken);
    }
  }
}

/** The resolver of every root field: the execution's action. */
const resolveRoot: GraphQLFieldResolver<unknown, unknown> = (_source, _args, context, info) => (context as Execution).action(info, context as Execution);

/** SQLSTATE of a statement cancelled (here: by the statement timeout). */
const QUERY_CANCELED = '57014';

/** The response keys and indexes from the root to `path`. */
function responsePath(path: GraphQLResolveInfo['path'] | undefined): (string | number)[] {
  const keys: (string | number)[] = [];
  for (let at = path; at; at = at.prev) keys.unshift(at.key);
  return keys;
}

/** True for a `_stream` root field of a subscription. */
export function isStreamField(info: Pick<GraphQLResolveInfo, 'fieldName' | 'parentType'>): boolean {
  const field = info.parentType.getFields()[info.fieldName];
  return field !== undefined && meaningOf(field).kind === 'stream';
}

/** A database error as a GraphQL error, coded as Hasura codes them; a cancelled statement names the timeout. */
function databaseError(error: Error & { code: string }, statementTimeoutMs: number): GraphQLError {
  if (error instanceof GraphQLError) return error;
  if (error.code === QUERY_CANCELED) return statementTimeoutError(statementTimeoutMs);
  const code = error.code === '42501' ? 'access-denied' : error.code.startsWith('22') ? 'data-exception' : error.code.startsWith('23') ? 'constraint-violation' : 'unexpected';
  return graphqlError(error.message, code);
}
