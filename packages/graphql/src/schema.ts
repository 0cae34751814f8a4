// Builds a role's GraphQL schema from its readable relations, with Hasura's root fields, arguments and input types.
import {
  GraphQLBoolean,
  GraphQLEnumType,
  GraphQLFloat,
  GraphQLInputObjectType,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  type GraphQLFieldConfig,
  type GraphQLFieldConfigArgumentMap,
  type GraphQLInputFieldConfigMap,
  type GraphQLInputType,
  type GraphQLScalarType,
} from 'graphql';
import type { ColumnInfo, RelationInfo } from './catalog.js';
import { isGraphQLName, ScalarRegistry, TEXT_TYPES } from './scalars.js';

/** A relationship from a foreign key: an object one (this row references one row) or an array one (rows referencing this one). */
export interface Relationship {
  readonly kind: 'object' | 'array';
  readonly target: RelationModel;
  /** Pairs of (column here, column of the target) that must be equal. */
  readonly mapping: readonly { readonly from: string; readonly to: string }[];
}

/** A relation as the schema exposes it. */
export interface RelationModel {
  readonly info: RelationInfo;
  /** Its name in GraphQL: the table name in `public`, `<schema>_<table>` elsewhere. */
  readonly typeName: string;
  readonly columns: ReadonlyMap<string, ColumnInfo>;
  readonly relationships: Map<string, Relationship>;
}

/** What a field of the schema stands for, kept in the field's `extensions.nself`. */
export type FieldMeaning =
  | { readonly kind: 'column'; readonly column: ColumnInfo }
  | { readonly kind: 'relationship' | 'relationship_aggregate'; readonly relationship: Relationship }
  | { readonly kind: 'select' | 'by_pk' | 'aggregate' | 'stream'; readonly relation: RelationModel };

/** The root field resolver every root field uses; the execution context decides what it does. */
export type RootResolver = GraphQLFieldConfig<unknown, unknown>['resolve'];

/** Hasura's `order_by` values, each with the SQL it stands for. */
const ORDER_BY = new GraphQLEnumType({
  name: 'order_by',
  description: 'column ordering options',
  values: {
    asc: { value: 'ASC' },
    asc_nulls_first: { value: 'ASC NULLS FIRST' },
    asc_nulls_last: { value: 'ASC NULLS LAST' },
    desc: { value: 'DESC' },
    desc_nulls_first: { value: 'DESC NULLS FIRST' },
    desc_nulls_last: { value: 'DESC NULLS LAST' },
  },
});

/** Hasura's aggregates over numeric columns, each named as its SQL function: `sum` keeps the column's type, the others are Float. */
const NUMERIC_AGGREGATES = ['sum', 'avg', 'stddev', 'stddev_pop', 'stddev_samp', 'var_pop', 'var_samp', 'variance'] as const;
/** Hasura's aggregates over comparable columns (numbers, text, dates and times), keeping the column's type. */
const COMPARABLE_AGGREGATES = ['max', 'min'] as const;
/** Every aggregate function besides count: the field names the compiler may put in SQL as functions. */
export const AGGREGATE_FUNCTIONS: ReadonlySet<string> = new Set([...NUMERIC_AGGREGATES, ...COMPARABLE_AGGREGATES]);
const NUMERIC_TYPES = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric']);
const COMPARABLE_TYPES = new Set([...NUMERIC_TYPES, 'text', 'varchar', 'bpchar', 'citext', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'interval']);

/** The columns of `model` the aggregate `name` applies to. */
function aggregateColumns(model: RelationModel, name: string): ColumnInfo[] {
  const types = (NUMERIC_AGGREGATES as readonly string[]).includes(name) ? NUMERIC_TYPES : COMPARABLE_TYPES;
  return [...model.columns.values()].filter((column) => types.has(column.typeName));
}

/** The name of the field of an array relationship `name`'s aggregate (a row's field, and its `order_by` field). */
export function aggregateFieldName(name: string): string {
  return `${name}_aggregate`;
}

const CURSOR_ORDERING = new GraphQLEnumType({ name: 'cursor_ordering', description: 'ordering argument of a cursor', values: { ASC: { value: 'ASC' }, DESC: { value: 'DESC' } } });

/** Builds the schema of `relations`; `resolveRoot` resolves every root field. */
export function buildSchema(relations: readonly RelationInfo[], resolveRoot: RootResolver): GraphQLSchema {
  const scalars = new ScalarRegistry();
  const models = relations.flatMap((info) => {
    const typeName = info.schema === 'public' ? info.name : `${info.schema}_${info.name}`;
    if (!isGraphQLName(typeName)) return [];
    const columns = new Map(info.columns.filter((column) => isGraphQLName(column.name)).map((column) => [column.name, column]));
    return columns.size === 0 ? [] : [{ info, typeName, columns, relationships: new Map<string, Relationship>() }];
  });
  addRelationships(models);
  const types = new SchemaTypes(scalars);
  const query: Record<string, GraphQLFieldConfig<unknown, unknown>> = {};
  const subscription: Record<string, GraphQLFieldConfig<unknown, unknown>> = {};
  for (const model of models) {
    const list = types.listField(model, 'select', resolveRoot);
    const aggregate: GraphQLFieldConfig<unknown, unknown> = {
      type: new GraphQLNonNull(types.aggregateType(model)),
      args: types.listArguments(model),
      resolve: resolveRoot,
      extensions: { nself: { kind: 'aggregate', relation: model } satisfies FieldMeaning },
    };
    const stream: GraphQLFieldConfig<unknown, unknown> = {
      type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(types.objectType(model)))),
      args: {
        batch_size: { type: new GraphQLNonNull(GraphQLInt), description: 'most rows in one result' },
        cursor: { type: new GraphQLNonNull(new GraphQLList(types.streamCursorType(model))), description: 'where the stream starts, and its order' },
        where: { type: types.boolExp(model) },
      },
      resolve: resolveRoot,
      extensions: { nself: { kind: 'stream', relation: model } satisfies FieldMeaning },
    };
    for (const fields of [query, subscription]) {
      fields[model.typeName] = list;
      fields[`${model.typeName}_aggregate`] = aggregate;
    }
    const key = model.info.primaryKey;
    if (key.length > 0 && key.every((column) => model.columns.has(column))) {
      const byPk: GraphQLFieldConfig<unknown, unknown> = {
        type: types.objectType(model),
        args: Object.fromEntries(key.map((column) => [column, { type: new GraphQLNonNull(scalars.of((model.columns.get(column) as ColumnInfo).typeName)) }])),
        resolve: resolveRoot,
        extensions: { nself: { kind: 'by_pk', relation: model } satisfies FieldMeaning },
      };
      query[`${model.typeName}_by_pk`] = byPk;
      subscription[`${model.typeName}_by_pk`] = byPk;
    }
    subscription[`${model.typeName}_stream`] = stream;
  }
  if (models.length === 0) {
    const empty: GraphQLFieldConfig<unknown, unknown> = { type: GraphQLBoolean, description: 'the role may read no table or view', resolve: () => null };
    query['no_queries_available'] = empty;
  }
  return new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'query_root', fields: query }),
    ...(models.length > 0 ? { subscription: new GraphQLObjectType({ name: 'subscription_root', fields: subscription }) } : {}),
  });
}

/** Object relationships from each foreign key, and array relationships on the referenced relation, named so that no name is taken twice. */
function addRelationships(models: readonly RelationModel[]): void {
  const byName = new Map(models.map((model) => [`${model.info.schema}.${model.info.name}`, model]));
  const taken = (model: RelationModel, name: string) => model.columns.has(name) || model.relationships.has(name) || !isGraphQLName(name);
  for (const model of models) {
    for (const fk of model.info.foreignKeys) {
      const target = byName.get(`${fk.targetSchema}.${fk.targetName}`);
      if (!target) continue;
      const mapping = fk.columns.map((from, index) => ({ from, to: fk.references[index] as string }));
      const single = fk.columns.length === 1 ? (fk.columns[0] as string) : undefined;
      const objectName = [single?.endsWith('_id') ? single.slice(0, -3) : undefined, target.typeName, `${target.typeName}_by_${fk.columns.join('_')}`].find(
        (name) => name !== undefined && name !== '' && !taken(model, name),
      );
      if (objectName) model.relationships.set(objectName, { kind: 'object', target, mapping });
      const arrayName = [model.typeName, `${model.typeName}_by_${fk.columns.join('_')}`].find((name) => !taken(target, name));
      if (arrayName) target.relationships.set(arrayName, { kind: 'array', target: model, mapping: mapping.map(({ from, to }) => ({ from: to, to: from })) });
    }
  }
}

/** The GraphQL types of the relations, made once each. */
class SchemaTypes {
  private readonly objects = new Map<RelationModel, GraphQLObjectType>();
  private readonly boolExps = new Map<RelationModel, GraphQLInputObjectType>();
  private readonly orderBys = new Map<RelationModel, GraphQLInputObjectType>();
  private readonly selectColumns = new Map<RelationModel, GraphQLEnumType>();
  private readonly comparisons = new Map<GraphQLScalarType, GraphQLInputObjectType>();
  private readonly aggregateOrderBys = new Map<RelationModel, GraphQLInputObjectType>();
  private readonly aggregates = new Map<RelationModel, GraphQLObjectType>();

  constructor(private readonly scalars: ScalarRegistry) {}

  objectType(model: RelationModel): GraphQLObjectType {
    let type = this.objects.get(model);
    if (type) return type;
    type = new GraphQLObjectType({
      name: model.typeName,
      description: `columns and relationships of "${model.info.schema}.${model.info.name}"`,
      fields: () => {
        const fields: Record<string, GraphQLFieldConfig<unknown, unknown>> = {};
        for (const column of model.columns.values()) {
          const scalar = this.scalars.of(column.typeName);
          fields[column.name] = { type: column.nullable ? scalar : new GraphQLNonNull(scalar), extensions: { nself: { kind: 'column', column } satisfies FieldMeaning } };
        }
        for (const [name, relationship] of model.relationships) {
          const meaning = { nself: { kind: 'relationship', relationship } satisfies FieldMeaning };
          fields[name] =
            relationship.kind === 'object'
              ? { type: this.objectType(relationship.target), extensions: meaning }
              : {
                  type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(this.objectType(relationship.target)))),
                  args: this.listArguments(relationship.target),
                  extensions: meaning,
                };
          const aggregateName = aggregateFieldName(name);
          if (relationship.kind === 'array' && !model.columns.has(aggregateName) && !model.relationships.has(aggregateName))
            fields[aggregateName] = {
              type: new GraphQLNonNull(this.aggregateType(relationship.target)),
              args: this.listArguments(relationship.target),
              extensions: { nself: { kind: 'relationship_aggregate', relationship } satisfies FieldMeaning },
            };
        }
        return fields;
      },
    });
    this.objects.set(model, type);
    return type;
  }

  listField(model: RelationModel, kind: 'select', resolve: RootResolver): GraphQLFieldConfig<unknown, unknown> {
    return {
      type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(this.objectType(model)))),
      args: this.listArguments(model),
      resolve,
      extensions: { nself: { kind, relation: model } satisfies FieldMeaning },
    };
  }

  listArguments(model: RelationModel): GraphQLFieldConfigArgumentMap {
    return {
      distinct_on: { type: new GraphQLList(new GraphQLNonNull(this.selectColumn(model))), description: 'distinct select on columns' },
      limit: { type: GraphQLInt, description: 'limit the number of rows returned' },
      offset: { type: GraphQLInt, description: 'skip the first n rows; use only with order_by' },
      order_by: { type: new GraphQLList(new GraphQLNonNull(this.orderBy(model))), description: 'sort the rows by one or more columns' },
      where: { type: this.boolExp(model), description: 'filter the rows returned' },
    };
  }

  /** `<table>_aggregate`: `aggregate` (count, and Hasura's `sum`, `avg`, `min`, `max`, … for the columns each applies to) and `nodes`. */
  aggregateType(model: RelationModel): GraphQLObjectType {
    const known = this.aggregates.get(model);
    if (known) return known;
    const aggregateFields: Record<string, GraphQLFieldConfig<unknown, unknown>> = {
      count: {
        type: new GraphQLNonNull(GraphQLInt),
        args: { columns: { type: new GraphQLList(new GraphQLNonNull(this.selectColumn(model))) }, distinct: { type: GraphQLBoolean } },
      },
    };
    for (const name of AGGREGATE_FUNCTIONS) {
      const columns = aggregateColumns(model, name);
      if (columns.length === 0) continue;
      const float = name !== 'sum' && !(COMPARABLE_AGGREGATES as readonly string[]).includes(name);
      aggregateFields[name] = {
        type: new GraphQLObjectType({
          name: `${model.typeName}_${name}_fields`,
          description: `${name} of the columns of "${model.info.schema}.${model.info.name}" it applies to`,
          fields: Object.fromEntries(
            columns.map((column) => [
              column.name,
              { type: float ? GraphQLFloat : this.scalars.of(column.typeName), extensions: { nself: { kind: 'column', column } satisfies FieldMeaning } },
            ]),
          ),
        }),
      };
    }
    const type = new GraphQLObjectType({
      name: `${model.typeName}_aggregate`,
      fields: {
        aggregate: { type: new GraphQLObjectType({ name: `${model.typeName}_aggregate_fields`, fields: aggregateFields }) },
        nodes: { type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(this.objectType(model)))) },
      },
    });
    this.aggregates.set(model, type);
    return type;
  }

  streamCursorType(model: RelationModel): GraphQLInputObjectType {
    const value = new GraphQLInputObjectType({
      name: `${model.typeName}_stream_cursor_value_input`,
      description: 'initial value of the column from where the streaming should start',
      fields: Object.fromEntries([...model.columns.values()].map((column) => [column.name, { type: this.scalars.of(column.typeName) }])),
    });
    return new GraphQLInputObjectType({
      name: `${model.typeName}_stream_cursor_input`,
      fields: { initial_value: { type: new GraphQLNonNull(value) }, ordering: { type: CURSOR_ORDERING } },
    });
  }

  selectColumn(model: RelationModel): GraphQLEnumType {
    let type = this.selectColumns.get(model);
    if (!type) {
      type = new GraphQLEnumType({ name: `${model.typeName}_select_column`, values: Object.fromEntries([...model.columns.keys()].map((name) => [name, { value: name }])) });
      this.selectColumns.set(model, type);
    }
    return type;
  }

  /** `<table>_order_by`: its columns, its object relationships' `order_by`, and `<relationship>_aggregate` of its array relationships. */
  orderBy(model: RelationModel): GraphQLInputObjectType {
    let type = this.orderBys.get(model);
    if (!type) {
      type = new GraphQLInputObjectType({
        name: `${model.typeName}_order_by`,
        description: `ordering options when selecting data from "${model.info.schema}.${model.info.name}"`,
        fields: () => {
          const fields: GraphQLInputFieldConfigMap = Object.fromEntries([...model.columns.keys()].map((name) => [name, { type: ORDER_BY }]));
          for (const [name, relationship] of model.relationships) {
            const aggregateName = aggregateFieldName(name);
            if (relationship.kind === 'object') fields[name] = { type: this.orderBy(relationship.target) };
            else if (!model.columns.has(aggregateName) && !model.relationships.has(aggregateName)) fields[aggregateName] = { type: this.aggregateOrderBy(relationship.target) };
          }
          return fields;
        },
      });
      this.orderBys.set(model, type);
    }
    return type;
  }

  /** `<table>_aggregate_order_by`: order by the count of related rows, or an aggregate of one of their columns. */
  private aggregateOrderBy(model: RelationModel): GraphQLInputObjectType {
    let type = this.aggregateOrderBys.get(model);
    if (!type) {
      const fields: GraphQLInputFieldConfigMap = { count: { type: ORDER_BY } };
      for (const name of AGGREGATE_FUNCTIONS) {
        const columns = aggregateColumns(model, name);
        if (columns.length === 0) continue;
        fields[name] = {
          type: new GraphQLInputObjectType({ name: `${model.typeName}_${name}_order_by`, fields: Object.fromEntries(columns.map((column) => [column.name, { type: ORDER_BY }])) }),
        };
      }
      type = new GraphQLInputObjectType({ name: `${model.typeName}_aggregate_order_by`, description: `order by aggregate values of table "${model.info.name}"`, fields });
      this.aggregateOrderBys.set(model, type);
    }
    return type;
  }

  boolExp(model: RelationModel): GraphQLInputObjectType {
    const known = this.boolExps.get(model);
    if (known) return known;
    const self: GraphQLInputObjectType = new GraphQLInputObjectType({
      name: `${model.typeName}_bool_exp`,
      description: `Boolean expression to filter rows from "${model.info.schema}.${model.info.name}"; all conditions must hold`,
      fields: (): GraphQLInputFieldConfigMap => {
        const fields: GraphQLInputFieldConfigMap = {
          _and: { type: new GraphQLList(new GraphQLNonNull(self)) },
          _or: { type: new GraphQLList(new GraphQLNonNull(self)) },
          _not: { type: self },
        };
        for (const column of model.columns.values()) fields[column.name] = { type: this.comparison(this.scalars.of(column.typeName), TEXT_TYPES.has(column.typeName)) };
        for (const [name, relationship] of model.relationships) fields[name] = { type: this.boolExp(relationship.target) };
        return fields;
      },
    });
    this.boolExps.set(model, self);
    return self;
  }

  private comparison(scalar: GraphQLScalarType, text: boolean): GraphQLInputObjectType {
    let type = this.comparisons.get(scalar);
    if (type) return type;
    const list: GraphQLInputType = new GraphQLList(new GraphQLNonNull(scalar));
    type = new GraphQLInputObjectType({
      name: `${scalar.name}_comparison_exp`,
      description: `Boolean expression to compare columns of type "${scalar.name}"; all fields are combined with AND`,
      fields: {
        _eq: { type: scalar },
        _neq: { type: scalar },
        _gt: { type: scalar },
        _gte: { type: scalar },
        _lt: { type: scalar },
        _lte: { type: scalar },
        _in: { type: list },
        _nin: { type: list },
        _is_null: { type: GraphQLBoolean },
        ...(text ? { _like: { type: scalar }, _nlike: { type: scalar }, _ilike: { type: scalar }, _nilike: { type: scalar } } : {}),
      },
    });
    this.comparisons.set(scalar, type);
    return type;
  }
}
