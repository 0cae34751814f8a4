// GraphQL scalars for PostgreSQL types, named as Hasura names them (Int, String, uuid, bigint, timestamptz, jsonb, …).
import { GraphQLBoolean, GraphQLFloat, GraphQLInt, GraphQLScalarType, GraphQLString, valueFromASTUntyped } from 'graphql';

const BUILT_IN: Record<string, GraphQLScalarType> = {
  int2: GraphQLInt,
  int4: GraphQLInt,
  float4: GraphQLFloat,
  float8: GraphQLFloat,
  bool: GraphQLBoolean,
  text: GraphQLString,
  varchar: GraphQLString,
  bpchar: GraphQLString,
  name: GraphQLString,
  citext: GraphQLString,
};

/** Types whose values PostgreSQL compares as text, so `_like` and `_ilike` apply. */
export const TEXT_TYPES: ReadonlySet<string> = new Set(['text', 'varchar', 'bpchar', 'name', 'citext']);

const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

/** True when `name` may be a GraphQL name (tables and columns with other names are left out of the schema). */
export function isGraphQLName(name: string): boolean {
  return GRAPHQL_NAME.test(name) && !name.startsWith('__');
}

/** The scalars of one schema: built-in ones for the common types, a pass-through scalar named after any other PostgreSQL type. */
export class ScalarRegistry {
  private readonly custom = new Map<string, GraphQLScalarType>();

  /** The scalar for the pg_type name `typeName`. */
  of(typeName: string): GraphQLScalarType {
    const builtIn = BUILT_IN[typeName];
    if (builtIn) return builtIn;
    const name = isGraphQLName(typeName) ? typeName : 'String';
    if (name === 'String') return GraphQLString;
    let scalar = this.custom.get(name);
    if (!scalar) {
      scalar = new GraphQLScalarType({
        name,
        description: `PostgreSQL ${typeName}: values as PostgreSQL writes them in JSON`,
        serialize: (value) => value,
        parseValue: (value) => value,
        parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
      });
      this.custom.set(name, scalar);
    }
    return scalar;
  }
}
