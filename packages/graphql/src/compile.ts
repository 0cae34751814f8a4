// Compiles one root field of a GraphQL operation to one SQL statement: JSON built in the database, values bound, identifiers escaped.
import {
  getArgumentValues,
  getDirectiveValues,
  getNamedType,
  GraphQLError,
  GraphQLIncludeDirective,
  GraphQLObjectType,
  GraphQLSkipDirective,
  Kind,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLResolveInfo,
  type SelectionSetNode,
} from 'graphql';
import pg from 'pg';
import type { ColumnInfo } from './catalog.js';
import { AGGREGATE_FUNCTIONS, aggregateFieldName, type FieldMeaning, type RelationModel, type Relationship } from './schema.js';

/** A relation a statement reads. */
export interface TableRef {
  readonly schema: string;
  readonly table: string;
}

/** A statement and its bound values; `data` is the root field's JSON (for `compile`, with `bytes`, its size). */
export interface Statement {
  readonly text: string;
  readonly values: unknown[];
  /** Every relation the statement reads. */
  readonly tables: readonly TableRef[];
  /** How many times the statement reads each relation (at the root, through each relationship or relationship condition), keyed by `tableKey`. */
  readonly reads: ReadonlyMap<string, number>;
}

/**
 * How a `_stream` root field reads: a page past a cursor value, or the rows whose cursor values the
 * change log named (with `pastCursor`, only those whose value is past it). `furthest` is the furthest
 * cursor value sent so far (null: none), which the read's own rows may move on.
 */
export type StreamRead = { readonly furthest: string | null } & (
  { readonly kind: 'page'; readonly after: string | null } | { readonly kind: 'lookup'; readonly cursorValues: readonly string[]; readonly pastCursor: string | null }
);

/** A `_stream` field's arguments, read once. */
export interface StreamShape {
  readonly relation: RelationModel;
  readonly column: ColumnInfo;
  readonly descending: boolean;
  readonly batchSize: number;
}

type BoolExp = Record<string, unknown>;
/** One `order_by` object: a column's direction, an object relationship's own `order_by`, or `<relationship>_aggregate` of an array relationship. */
type OrderBy = { [name: string]: string | OrderBy | null | undefined };
type ListArgs = { where?: BoolExp | null; order_by?: OrderBy[] | null; limit?: number | null; offset?: number | null; distinct_on?: string[] | null };

/** The most key/value pairs one json_build_object call takes (PostgreSQL allows 100 arguments). */
const PAIRS_PER_CALL = 50;

/** What the root field resolver passes to compile: the field, its arguments, variables and fragments. */
export class Compiler {
  private readonly values: unknown[] = [];
  private readonly tables = new Map<string, TableRef>();
  private readonly reads = new Map<string, number>();
  private aliases = 0;

  /**
   * `maxRows` bounds every list: a list reads at most one row more than it (whatever its `limit`), so
   * a list longer than `maxRows` is seen and refused without reading the rest of the table.
   * A root field's JSON over `maxResultBytes` is measured and left in the database.
   */
  constructor(
    private readonly info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'variableValues' | 'fragments' | 'parentType' | 'fieldName'>,
    private readonly maxRows: number,
    private readonly maxResultBytes: number,
  ) {}

  /** The statement of the root field, whose one row has `data` (null when it is over `maxResultBytes`) and `bytes`, the size of its JSON. */
  compile(): Statement {
    const field = this.info.parentType.getFields()[this.info.fieldName] as GraphQLField<unknown, unknown>;
    const meaning = meaningOf(field);
    const node = this.info.fieldNodes[0] as FieldNode;
    const args = getArgumentValues(field, node, this.info.variableValues);
    if (!('relation' in meaning)) throw new Error(`${field.name} is not a root field`);
    const relation = meaning.relation;
    const type = getNamedType(field.type) as GraphQLObjectType;
    let text: string;
    if (meaning.kind === 'select') text = `SELECT ${this.list(relation, type, node.selectionSet, args, null)} AS data`;
    else if (meaning.kind === 'by_pk') {
      const alias = this.alias();
      const key = relation.info.primaryKey.map((column) => `${alias}.${pg.escapeIdentifier(column)} = ${this.bind(args[column])}`).join(' AND ');
      text = `SELECT (SELECT ${this.object(type, node.selectionSet, alias)} FROM ${this.from(relation)} AS ${alias} WHERE ${key} LIMIT 1) AS data`;
    } else if (meaning.kind === 'aggregate') text = this.aggregate(relation, type, node.selectionSet, args, null);
    else throw new Error('a _stream field is compiled with compileStream');
    // OFFSET 0 keeps each subquery whole, so the JSON is built once, measured once, and sent only when within the bound.
    const measured = `SELECT CASE WHEN _m.bytes <= ${this.bind(this.maxResultBytes)} THEN _m.data END AS data, _m.bytes
                        FROM (SELECT _r.data, octet_length(_r.data::text) AS bytes FROM (${text} OFFSET 0) AS _r OFFSET 0) AS _m`;
    return { text: measured, values: this.values, tables: [...this.tables.values()], reads: this.reads };
  }

  /** The arguments of a `_stream` root field, checked. */
  streamShape(): StreamShape {
    const field = this.info.parentType.getFields()[this.info.fieldName] as GraphQLField<unknown, unknown>;
    const meaning = meaningOf(field);
    if (meaning.kind !== 'stream') throw new Error(`${field.name} is not a _stream field`);
    const args = getArgumentValues(field, this.info.fieldNodes[0] as FieldNode, this.info.variableValues) as {
      batch_size: number;
      cursor: ({ initial_value: Record<string, unknown>; ordering?: string } | null)[];
    };
    const cursors = args.cursor.filter((cursor) => cursor !== null);
    const initial = cursors[0]?.initial_value ?? {};
    const names = Object.keys(initial);
    if (cursors.length !== 1 || names.length !== 1) {
      throw new GraphQLError(`${field.name} needs exactly one cursor with one column in initial_value, such as cursor: {initial_value: {id: 0}, ordering: ASC}`, {
        extensions: { code: 'validation-failed', path: '$.selectionSet.cursor' },
      });
    }
    if (!Number.isInteger(args.batch_size) || args.batch_size < 1 || args.batch_size > this.maxRows) {
      throw new GraphQLError(`${field.name}: batch_size must be a whole number from 1 to ${this.maxRows} (REALTIME_GRAPHQL_MAX_ROWS), got ${args.batch_size}`, {
        extensions: { code: 'validation-failed', path: '$.selectionSet.batch_size' },
      });
    }
    const column = meaning.relation.columns.get(names[0] as string) as ColumnInfo;
    return { relation: meaning.relation, column, descending: cursors[0]?.ordering === 'DESC', batchSize: args.batch_size };
  }

  /**
   * The statement of a `_stream` root field: its one row has `data`, the rows as JSON in cursor
   * order (a page) or in the order of `cursorValues` (a lookup), `cursors`, each row's cursor
   * value as text, and `furthest`, the furthest of `read.furthest` and the rows' cursor values (by the
   * column's own ordering, so any sortable type works). Only rows past the initial cursor value are read.
   */
  compileStream(read: StreamRead): Statement {
    const shape = this.streamShape();
    const field = this.info.parentType.getFields()[this.info.fieldName] as GraphQLField<unknown, unknown>;
    const node = this.info.fieldNodes[0] as FieldNode;
    const args = getArgumentValues(field, node, this.info.variableValues) as { where?: BoolExp | null; cursor: { initial_value: Record<string, unknown> }[] };
    const type = getNamedType(field.type) as GraphQLObjectType;
    const alias = this.alias();
    const column = `${alias}.${pg.escapeIdentifier(shape.column.name)}`;
    const past = shape.descending ? '<' : '>';
    const initial = args.cursor[0]?.initial_value[shape.column.name];
    const conditions = [this.where(shape.relation, alias, args.where ?? null)];
    if (initial !== null && initial !== undefined) conditions.push(`${column} ${past} ${this.bind(initial)}`);
    const direction = shape.descending ? 'DESC' : 'ASC';
    let rows: string;
    if (read.kind === 'page') {
      if (read.after !== null) conditions.push(`${column} ${past} ${this.bind(read.after)}`);
      rows = `SELECT ${this.object(type, node.selectionSet, alias)} AS j, ${column}::text AS c, ${column} AS v FROM ${this.from(shape.relation)} AS ${alias}
                WHERE ${conditions.join(' AND ')} ORDER BY ${column} ${direction} LIMIT ${this.bind(shape.batchSize)}`;
    } else {
      if (read.pastCursor !== null) conditions.push(`${column} ${past} ${this.bind(read.pastCursor)}::${shape.column.sqlType}`);
      rows = `SELECT ${this.object(type, node.selectionSet, alias)} AS j, ${column}::text AS c, ${column} AS v
                FROM unnest(${this.bind(read.cursorValues)}::text[]) WITH ORDINALITY AS _k(v, n) JOIN ${this.from(shape.relation)} AS ${alias} ON ${column} = _k.v::${shape.column.sqlType}
               WHERE ${conditions.join(' AND ')} ORDER BY _k.n`;
    }
    const furthest = `(SELECT _f.v FROM (SELECT _s.v FROM _s UNION ALL SELECT ${this.bind(read.furthest)}::${shape.column.sqlType}) AS _f
                        ORDER BY _f.v ${direction === 'ASC' ? 'DESC' : 'ASC'} NULLS LAST LIMIT 1)::text`;
    const text = `WITH _s AS (${rows})
                  SELECT coalesce(json_agg(_s.j), '[]'::json) AS data, coalesce(json_agg(_s.c), '[]'::json) AS cursors, ${furthest} AS furthest FROM _s`;
    return { text, values: this.values, tables: [...this.tables.values()], reads: this.reads };
  }

  /** The statement of an aggregate of the rows of `relation` (joined to the outer row by `join`), whose one row has `data`. */
  private aggregate(
    relation: RelationModel,
    type: GraphQLObjectType,
    selectionSet: SelectionSetNode | undefined,
    args: ListArgs,
    join: ((alias: string) => string) | null,
  ): string {
    const alias = this.alias();
    const group = this.alias();
    const nodeColumns: string[] = [];
    const parts: string[] = [];
    for (const { key, node, field } of this.fields(type, selectionSet)) {
      if (field.name === 'nodes') {
        const nodeColumn = pg.escapeIdentifier(`__nself_node_${nodeColumns.length}`);
        nodeColumns.push(`${this.object(getNamedType(field.type) as GraphQLObjectType, node.selectionSet, alias)} AS ${nodeColumn}`);
        parts.push(pg.escapeLiteral(key), `coalesce(json_agg(${group}.${nodeColumn}), '[]'::json)`);
      } else if (field.name === 'aggregate') {
        const values: string[] = [];
        for (const value of this.fields(getNamedType(field.type) as GraphQLObjectType, node.selectionSet)) {
          if (value.field.name === 'count') {
            const countArgs = getArgumentValues(value.field, value.node, this.info.variableValues) as { columns?: string[] | null; distinct?: boolean | null };
            const columns = (countArgs.columns ?? []).map((column) => `${group}.${pg.escapeIdentifier(column)}`);
            const counted = columns.length === 0 ? '*' : `${countArgs.distinct ? 'DISTINCT ' : ''}${columns.length === 1 ? columns[0] : `(${columns.join(', ')})`}`;
            values.push(pg.escapeLiteral(value.key), `count(${counted})`);
          } else if (AGGREGATE_FUNCTIONS.has(value.field.name)) {
            // The function is one of a fixed list (the field's name); each column is the schema's own.
            const perColumn: string[] = [];
            for (const column of this.fields(getNamedType(value.field.type) as GraphQLObjectType, value.node.selectionSet)) {
              const meaning = meaningOf(column.field);
              if (meaning.kind === 'column') perColumn.push(pg.escapeLiteral(column.key), `${value.field.name}(${group}.${pg.escapeIdentifier(meaning.column.name)})`);
            }
            values.push(pg.escapeLiteral(value.key), jsonObject(perColumn));
          }
        }
        parts.push(pg.escapeLiteral(key), jsonObject(values));
      }
    }
    // Counts see every row; a `nodes` list is bounded as any list (more rows than the bound is refused, so counts are never cut short).
    // The schema's columns, not `*`: a role granted some columns only may not select the others.
    const columns = [...relation.columns.keys()].map((column) => `${alias}.${pg.escapeIdentifier(column)}`);
    const rows = this.rows(relation, alias, nodeColumns.length > 0 ? this.bounded(args) : args, [...columns, ...nodeColumns].join(', '), join?.(alias));
    return `SELECT ${jsonObject(parts)} AS data FROM (${rows}) AS ${group}`;
  }

  /** JSON array of the rows of `relation` (joined to the outer row by `join`), as `type` selects them. */
  private list(relation: RelationModel, type: GraphQLObjectType, selectionSet: SelectionSetNode | undefined, args: ListArgs, join: ((alias: string) => string) | null): string {
    const alias = this.alias();
    const rows = this.rows(relation, alias, this.bounded(args), `${this.object(type, selectionSet, alias)} AS j`, join?.(alias));
    return `(SELECT coalesce(json_agg(_s.j), '[]'::json) FROM (${rows}) AS _s)`;
  }

  /** `args` with its limit at most one past `maxRows`. */
  private bounded(args: ListArgs): ListArgs {
    const limit = args.limit === null || args.limit === undefined ? this.maxRows + 1 : Math.min(args.limit, this.maxRows + 1);
    return { ...args, limit };
  }

  /** SELECT `output` FROM the relation as `alias`, with Hasura's list arguments. */
  private rows(relation: RelationModel, alias: string, args: ListArgs, output: string, join?: string): string {
    const where = [this.where(relation, alias, args.where ?? null), ...(join ? [join] : [])].join(' AND ');
    const distinct = (args.distinct_on ?? []).map((column) => `${alias}.${pg.escapeIdentifier(column)}`);
    const orderBy = (args.order_by ?? []).flatMap((entry) => this.orderTerms(relation, alias, entry).map(({ expression, direction }) => `${expression} ${direction}`));
    // DISTINCT ON needs its columns first in ORDER BY; Hasura asks the same of order_by.
    const leading = distinct.filter((expression) => !orderBy.some((order) => order.startsWith(`${expression} `)));
    const order = [...leading, ...orderBy];
    return [
      `SELECT ${distinct.length > 0 ? `DISTINCT ON (${distinct.join(', ')}) ` : ''}${output} FROM ${this.from(relation)} AS ${alias} WHERE ${where}`,
      order.length > 0 ? `ORDER BY ${order.join(', ')}` : '',
      args.limit !== null && args.limit !== undefined ? `LIMIT ${this.bind(args.limit)}` : '',
      args.offset !== null && args.offset !== undefined ? `OFFSET ${this.bind(args.offset)}` : '',
    ].join(' ');
  }

  /**
   * The ORDER BY terms of one `order_by` object over the row `alias`: a column; a column (or deeper
   * relationship) of the one row an object relationship points to; or the count or an aggregate of
   * the rows of an array relationship. Directions come from the `order_by` enum's values.
   */
  private orderTerms(relation: RelationModel, alias: string, entry: OrderBy): { expression: string; direction: string }[] {
    const terms: { expression: string; direction: string }[] = [];
    for (const [name, value] of Object.entries(entry)) {
      if (value === null || value === undefined) continue;
      if (relation.columns.has(name)) {
        terms.push({ expression: `${alias}.${pg.escapeIdentifier(name)}`, direction: value as string });
        continue;
      }
      const object = relation.relationships.get(name);
      if (object?.kind === 'object') {
        const inner = this.alias();
        const from = `FROM ${this.from(object.target)} AS ${inner} WHERE ${joinCondition(object, alias, inner)}`;
        for (const term of this.orderTerms(object.target, inner, value as OrderBy))
          terms.push({ expression: `(SELECT ${term.expression} ${from} LIMIT 1)`, direction: term.direction });
        continue;
      }
      const array = [...relation.relationships].find(([relationshipName, relationship]) => relationship.kind === 'array' && aggregateFieldName(relationshipName) === name)?.[1];
      if (!array) continue;
      for (const [aggregate, order] of Object.entries(value as OrderBy)) {
        if (order === null || order === undefined) continue;
        const inner = this.alias();
        const from = `FROM ${this.from(array.target)} AS ${inner} WHERE ${joinCondition(array, alias, inner)}`;
        if (aggregate === 'count') terms.push({ expression: `(SELECT count(*) ${from})`, direction: order as string });
        else if (AGGREGATE_FUNCTIONS.has(aggregate)) {
          for (const [column, direction] of Object.entries(order as OrderBy)) {
            if (direction === null || direction === undefined || !array.target.columns.has(column)) continue;
            terms.push({ expression: `(SELECT ${aggregate}(${inner}.${pg.escapeIdentifier(column)}) ${from})`, direction: direction as string });
          }
        }
      }
    }
    return terms;
  }

  /** json_build_object of the fields `selectionSet` selects of the row `alias`, keyed by response key. */
  private object(type: GraphQLObjectType, selectionSet: SelectionSetNode | undefined, alias: string): string {
    const pairs: string[] = [];
    for (const { key, node, field } of this.fields(type, selectionSet)) {
      const meaning = meaningOf(field);
      if (meaning.kind === 'column') pairs.push(pg.escapeLiteral(key), `${alias}.${pg.escapeIdentifier(meaning.column.name)}`);
      else if (meaning.kind === 'relationship') {
        const { relationship } = meaning;
        const target = relationship.target;
        const targetType = getNamedType(field.type) as GraphQLObjectType;
        const join = (inner: string) => joinCondition(relationship, alias, inner);
        if (relationship.kind === 'object') {
          const inner = this.alias();
          pairs.push(pg.escapeLiteral(key), `(SELECT ${this.object(targetType, node.selectionSet, inner)} FROM ${this.from(target)} AS ${inner} WHERE ${join(inner)} LIMIT 1)`);
        } else {
          const args = getArgumentValues(field, node, this.info.variableValues) as ListArgs;
          pairs.push(pg.escapeLiteral(key), this.list(target, targetType, node.selectionSet, args, join));
        }
      } else if (meaning.kind === 'relationship_aggregate') {
        const { relationship } = meaning;
        const args = getArgumentValues(field, node, this.info.variableValues) as ListArgs;
        const join = (inner: string) => joinCondition(relationship, alias, inner);
        pairs.push(pg.escapeLiteral(key), `(${this.aggregate(relationship.target, getNamedType(field.type) as GraphQLObjectType, node.selectionSet, args, join)})`);
      }
    }
    return jsonObject(pairs);
  }

  /** The SQL condition of a Hasura boolean expression over the row `alias`; `true` when empty. */
  private where(relation: RelationModel, alias: string, exp: BoolExp | null): string {
    if (exp === null) return 'true';
    const conditions: string[] = [];
    for (const [name, value] of Object.entries(exp)) {
      if (value === null || value === undefined) continue;
      if (name === '_and' || name === '_or') {
        const parts = (value as BoolExp[]).map((part) => this.where(relation, alias, part));
        if (parts.length > 0) conditions.push(`(${parts.join(name === '_and' ? ' AND ' : ' OR ')})`);
      } else if (name === '_not') conditions.push(`NOT (${this.where(relation, alias, value as BoolExp)})`);
      else if (relation.columns.has(name)) conditions.push(...this.comparisons(`${alias}.${pg.escapeIdentifier(name)}`, value as Record<string, unknown>));
      else {
        const relationship = relation.relationships.get(name) as Relationship;
        const inner = this.alias();
        conditions.push(
          `EXISTS (SELECT 1 FROM ${this.from(relationship.target)} AS ${inner} WHERE ${joinCondition(relationship, alias, inner)} AND ${this.where(relationship.target, inner, value as BoolExp)})`,
        );
      }
    }
    return conditions.length === 0 ? 'true' : conditions.join(' AND ');
  }

  private comparisons(column: string, operators: Record<string, unknown>): string[] {
    const conditions: string[] = [];
    for (const [operator, value] of Object.entries(operators)) {
      if (value === null || value === undefined) continue;
      const sql = COMPARISONS[operator];
      if (operator === '_is_null') conditions.push(`${column} IS ${value ? '' : 'NOT '}NULL`);
      else if (operator === '_in') conditions.push(`${column} = ANY(${this.bind(value)})`);
      else if (operator === '_nin') conditions.push(`NOT (${column} = ANY(${this.bind(value)}))`);
      else if (sql) conditions.push(`${column} ${sql} ${this.bind(value)}`);
    }
    return conditions;
  }

  /** The fields of `selectionSet` on `type` with their response keys, through fragments, honouring @skip and @include. */
  private fields(type: GraphQLObjectType, selectionSet: SelectionSetNode | undefined): { key: string; node: FieldNode; field: GraphQLField<unknown, unknown> }[] {
    const collected: { key: string; node: FieldNode; field: GraphQLField<unknown, unknown> }[] = [];
    const seen = new Set<string>();
    const visit = (set: SelectionSetNode | undefined) => {
      for (const selection of set?.selections ?? []) {
        if (!this.included(selection)) continue;
        if (selection.kind === Kind.FIELD) {
          const key = selection.alias?.value ?? selection.name.value;
          const field = type.getFields()[selection.name.value];
          if (!field || seen.has(key)) continue;
          seen.add(key);
          collected.push({ key, node: selection, field });
        } else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet);
        else {
          const fragment: FragmentDefinitionNode | undefined = this.info.fragments[selection.name.value];
          if (fragment) visit(fragment.selectionSet);
        }
      }
    };
    visit(selectionSet);
    return collected;
  }

  private included(node: Parameters<typeof getDirectiveValues>[1]): boolean {
    if (getDirectiveValues(GraphQLSkipDirective, node, this.info.variableValues)?.['if'] === true) return false;
    return getDirectiveValues(GraphQLIncludeDirective, node, this.info.variableValues)?.['if'] !== false;
  }

  private from(relation: RelationModel): string {
    const table = { schema: relation.info.schema, table: relation.info.name };
    const key = tableKey(table);
    this.tables.set(key, table);
    this.reads.set(key, (this.reads.get(key) ?? 0) + 1);
    return `${pg.escapeIdentifier(relation.info.schema)}.${pg.escapeIdentifier(relation.info.name)}`;
  }

  private alias(): string {
    return `_${this.aliases++}`;
  }

  private bind(value: unknown): string {
    this.values.push(typeof value === 'object' && value !== null && !Array.isArray(value) ? JSON.stringify(value) : value);
    return `$${this.values.length}`;
  }
}

const COMPARISONS: Record<string, string> = {
  _eq: '=',
  _neq: '<>',
  _gt: '>',
  _gte: '>=',
  _lt: '<',
  _lte: '<=',
  _like: 'LIKE',
  _nlike: 'NOT LIKE',
  _ilike: 'ILIKE',
  _nilike: 'NOT ILIKE',
};

/** A key naming one relation, for maps of relations. */
export function tableKey(table: TableRef): string {
  return JSON.stringify([table.schema, table.table]);
}

/** What a field of the schema stands for. */
export function meaningOf(field: GraphQLField<unknown, unknown>): FieldMeaning {
  return (field.extensions as { nself: FieldMeaning }).nself;
}

function joinCondition(relationship: Relationship, outer: string, inner: string): string {
  return relationship.mapping.map(({ from, to }) => `${inner}.${pg.escapeIdentifier(to)} = ${outer}.${pg.escapeIdentifier(from)}`).join(' AND ');
}

/** json_build_object of key/value pairs, in calls of at most 50 pairs merged as jsonb. */
function jsonObject(pairs: readonly string[]): string {
  if (pairs.length <= PAIRS_PER_CALL * 2) return `json_build_object(${pairs.join(', ')})`;
  const calls: string[] = [];
  for (let index = 0; index < pairs.length; index += PAIRS_PER_CALL * 2) calls.push(`jsonb_build_object(${pairs.slice(index, index + PAIRS_PER_CALL * 2).join(', ')})`);
  return `(${calls.join(' || ')})::json`;
}
