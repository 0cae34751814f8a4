// GraphQL queries as Nhost apps send them: over HTTP POST and over graphql-transport-ws, with Hasura's root fields, filters, relationships, roles and errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN_SECRET, hasuraToken, postGraphQL, useGraphQLServer, wsClient } from './support.js';

const env = useGraphQLServer(
  (role) => `
    CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE posts (id serial PRIMARY KEY, author_id int REFERENCES authors(id), title text NOT NULL, stars int NOT NULL DEFAULT 0, owner text NOT NULL, secret text);
    CREATE TABLE payroll (id int PRIMARY KEY, amount int);
    INSERT INTO authors (name) VALUES ('ada'), ('alan');
    INSERT INTO posts (author_id, title, stars, owner, secret) VALUES
      (1, 'engines', 5, 'u1', 's'), (1, 'notes', 3, 'u1', 's'), (2, 'machines', 4, 'u2', 's'), (2, 'Morphogenesis', 1, 'u2', 's');
    GRANT USAGE ON SCHEMA public TO ${role};
    GRANT SELECT ON authors TO ${role};
    GRANT SELECT (id, author_id, title, stars, owner) ON posts TO ${role};
    ALTER TABLE posts ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own_posts ON posts FOR SELECT TO ${role}
      USING (owner = current_setting('hasura.user', true)::json ->> 'x-hasura-user-id');
  `,
);

test('a query over HTTP POST with the admin secret reads every row, with where, order_by, limit, offset and relationships', async () => {
  const { status, body } = await postGraphQL(
    env.graphqlUrl,
    {
      query: `query Top($min: Int!) {
        posts(where: {_and: [{stars: {_gte: $min}}, {title: {_ilike: "%e%"}}]}, order_by: [{stars: desc}], limit: 2, offset: 0) {
          id title stars by: author { name } __typename
        }
        authors(order_by: {id: asc}) { name posts(order_by: {stars: asc}) { title } }
      }`,
      variables: { min: 3 },
    },
    { 'x-hasura-admin-secret': ADMIN_SECRET },
  );
  assert.equal(status, 200);
  assert.deepEqual(body, {
    data: {
      posts: [
        { id: 1, title: 'engines', stars: 5, by: { name: 'ada' }, __typename: 'posts' },
        { id: 3, title: 'machines', stars: 4, by: { name: 'alan' }, __typename: 'posts' },
      ],
      authors: [
        { name: 'ada', posts: [{ title: 'notes' }, { title: 'engines' }] },
        { name: 'alan', posts: [{ title: 'Morphogenesis' }, { title: 'machines' }] },
      ],
    },
  });
});

test('_by_pk, _aggregate with count and nodes, _in, _nin, _is_null, _or, _not and a filter through a relationship', async () => {
  const { body } = await postGraphQL(
    env.graphqlUrl,
    {
      query: `{
        posts_by_pk(id: 3) { title }
        missing: posts_by_pk(id: 99) { title }
        posts_aggregate(where: {author: {name: {_eq: "ada"}}}) { aggregate { count all: count(columns: [owner], distinct: true) } nodes { id } }
        some: posts(where: {_or: [{id: {_in: [1, 4]}}, {_not: {id: {_nin: [2]}}}], secret: {_is_null: false}}, order_by: {id: asc}) { id }
        distinct: posts(distinct_on: [owner], order_by: [{owner: asc}, {id: desc}]) { owner id }
      }`,
    },
    { 'x-hasura-admin-secret': ADMIN_SECRET },
  );
  assert.deepEqual(body, {
    data: {
      posts_by_pk: { title: 'machines' },
      missing: null,
      posts_aggregate: { aggregate: { count: 2, all: 1 }, nodes: [{ id: 1 }, { id: 2 }] },
      some: [{ id: 1 }, { id: 2 }, { id: 4 }],
      distinct: [
        { owner: 'u1', id: 2 },
        { owner: 'u2', id: 4 },
      ],
    },
  });
});

test("_aggregate has Hasura's sum, avg, min, max, stddev and variance, typed and named as Hasura names them", async () => {
  const admin = { 'x-hasura-admin-secret': ADMIN_SECRET };
  const { body } = await postGraphQL(
    env.graphqlUrl,
    {
      query: `{
        posts_aggregate {
          aggregate {
            __typename count total: sum { stars } avg { stars } min { stars } max { stars author_id }
            stddev_samp { stars } var_pop { stars } variance { stars } stddev { stars } stddev_pop { stars } var_samp { stars }
          }
        }
        lower: posts_aggregate(where: {stars: {_gte: 3}}) { aggregate { min { title } max { title } } }
        none: posts_aggregate(where: {id: {_gt: 100}}) { aggregate { count sum { stars } avg { stars } max { title } } }
        sum: __type(name: "posts_sum_fields") { fields { name type { name } } }
        avg: __type(name: "posts_avg_fields") { fields { name type { name } } }
        max: __type(name: "posts_max_fields") { fields { name type { name } } }
      }`,
    },
    admin,
  );
  const aggregate = (body.data?.['posts_aggregate'] as { aggregate: Record<string, unknown> }).aggregate;
  // The stars are 5, 3, 4 and 1.
  assert.deepEqual(
    { ...aggregate, stddev_samp: undefined, variance: undefined, stddev: undefined, var_samp: undefined },
    {
      __typename: 'posts_aggregate_fields',
      count: 4,
      total: { stars: 13 },
      avg: { stars: 3.25 },
      min: { stars: 1 },
      max: { stars: 5, author_id: 2 },
      stddev_samp: undefined,
      var_pop: { stars: 2.1875 },
      variance: undefined,
      stddev: undefined,
      stddev_pop: { stars: Math.sqrt(2.1875) },
      var_samp: undefined,
    },
  );
  const sampleVariance = 8.75 / 3;
  for (const name of ['variance', 'var_samp']) assert.ok(Math.abs((aggregate[name] as { stars: number }).stars - sampleVariance) < 1e-9, name);
  for (const name of ['stddev', 'stddev_samp']) assert.ok(Math.abs((aggregate[name] as { stars: number }).stars - Math.sqrt(sampleVariance)) < 1e-9, name);
  assert.deepEqual(body.data?.['lower'], { aggregate: { min: { title: 'engines' }, max: { title: 'notes' } } });
  assert.deepEqual(body.data?.['none'], { aggregate: { count: 0, sum: { stars: null }, avg: { stars: null }, max: { title: null } } });
  const types = (name: string) =>
    Object.fromEntries((body.data?.[name] as { fields: { name: string; type: { name: string } }[] }).fields.map((field) => [field.name, field.type.name]));
  assert.deepEqual(types('sum'), { id: 'Int', author_id: 'Int', stars: 'Int' });
  assert.deepEqual(types('avg'), { id: 'Float', author_id: 'Float', stars: 'Float' });
  assert.deepEqual(types('max'), { id: 'Int', author_id: 'Int', title: 'String', stars: 'Int', owner: 'String', secret: 'String' });
});

test('<relationship>_aggregate inside a row aggregates its related rows, with the list arguments, as the role sees them', async () => {
  const query = `{
    authors(order_by: {id: asc}) {
      name
      posts_aggregate(where: {stars: {_gte: 3}}, order_by: {stars: desc}) { aggregate { count max { stars } } nodes { title } }
    }
  }`;
  const admin = await postGraphQL(env.graphqlUrl, { query }, { 'x-hasura-admin-secret': ADMIN_SECRET });
  assert.deepEqual(admin.body, {
    data: {
      authors: [
        { name: 'ada', posts_aggregate: { aggregate: { count: 2, max: { stars: 5 } }, nodes: [{ title: 'engines' }, { title: 'notes' }] } },
        { name: 'alan', posts_aggregate: { aggregate: { count: 1, max: { stars: 4 } }, nodes: [{ title: 'machines' }] } },
      ],
    },
  });
  const user = await postGraphQL(env.graphqlUrl, { query }, { Authorization: `Bearer ${await hasuraToken('u1', env.role)}` });
  // The role may select some of posts' columns only: the aggregates read those, never `*`.
  const root = await postGraphQL(
    env.graphqlUrl,
    { query: '{ posts_aggregate { aggregate { count sum { stars } } } }' },
    { Authorization: `Bearer ${await hasuraToken('u1', env.role)}` },
  );
  assert.deepEqual(root.body, { data: { posts_aggregate: { aggregate: { count: 2, sum: { stars: 8 } } } } });
  assert.deepEqual((user.body.data?.['authors'] as unknown[] | undefined)?.[1] ?? user.body, {
    name: 'alan',
    posts_aggregate: { aggregate: { count: 0, max: { stars: null } }, nodes: [] },
  });
});

test('order_by follows object relationships and orders by aggregates of array relationships, as the role sees the related rows', async () => {
  const admin = { 'x-hasura-admin-secret': ADMIN_SECRET };
  const { body } = await postGraphQL(
    env.graphqlUrl,
    {
      query: `{
        by_author: posts(order_by: [{author: {name: desc}}, {stars: asc}]) { title }
        by_best_post: authors(order_by: {posts_aggregate: {max: {stars: asc}}}) { name }
        by_total_stars: authors(order_by: {posts_aggregate: {sum: {stars: desc}}}) { name }
        nested: authors(order_by: {id: asc}) { posts(order_by: {author: {id: desc}, stars: desc}) { stars } }
      }`,
    },
    admin,
  );
  assert.deepEqual(body, {
    data: {
      by_author: [{ title: 'Morphogenesis' }, { title: 'machines' }, { title: 'notes' }, { title: 'engines' }],
      by_best_post: [{ name: 'alan' }, { name: 'ada' }],
      by_total_stars: [{ name: 'ada' }, { name: 'alan' }],
      nested: [{ posts: [{ stars: 5 }, { stars: 3 }] }, { posts: [{ stars: 4 }, { stars: 1 }] }],
    },
  });
  // Row-level security lets u1 see only its own posts (ada's two): alan has none to count.
  const user = { Authorization: `Bearer ${await hasuraToken('u1', env.role)}` };
  const counted = await postGraphQL(env.graphqlUrl, { query: '{ authors(order_by: [{posts_aggregate: {count: desc}}, {id: desc}]) { name } }' }, user);
  assert.deepEqual(counted.body, { data: { authors: [{ name: 'ada' }, { name: 'alan' }] } });
  const fewest = await postGraphQL(env.graphqlUrl, { query: '{ authors(order_by: [{posts_aggregate: {count: asc}}, {id: asc}]) { name } }' }, user);
  assert.deepEqual(fewest.body, { data: { authors: [{ name: 'alan' }, { name: 'ada' }] } });
});

test("a user's token gives its role's schema: columns and tables it may not select are not there, and row-level security hides other users' rows", async () => {
  const headers = { authorization: `Bearer ${await hasuraToken('u1', env.role)}` };
  const own = await postGraphQL(env.graphqlUrl, { query: '{ posts(order_by: {id: asc}) { id owner } }' }, headers);
  assert.deepEqual(own.body, {
    data: {
      posts: [
        { id: 1, owner: 'u1' },
        { id: 2, owner: 'u1' },
      ],
    },
  });
  const hidden = await postGraphQL(env.graphqlUrl, { query: '{ posts { secret } payroll { id } }' }, headers);
  assert.deepEqual(
    (hidden.body.errors ?? []).map((error) => [error.message, error.extensions.code]),
    [
      ['Cannot query field "secret" on type "posts".', 'validation-failed'],
      ['Cannot query field "payroll" on type "query_root".', 'validation-failed'],
    ],
  );
});

test('bad requests are answered with Hasura-shaped GraphQL errors, not a crash', async () => {
  const admin = { 'x-hasura-admin-secret': ADMIN_SECRET };
  const syntax = await postGraphQL(env.graphqlUrl, { query: '{ posts { id ' }, admin);
  assert.equal(syntax.status, 200);
  assert.match(syntax.body.errors?.[0]?.message ?? '', /Syntax Error/);
  assert.deepEqual(syntax.body.errors?.[0]?.extensions, { path: '$', code: 'validation-failed' });
  const badValue = await postGraphQL(env.graphqlUrl, { query: '{ posts(where: {stars: {_eq: "many"}}) { id } }' }, admin);
  assert.equal(badValue.body.errors?.[0]?.extensions.code, 'validation-failed');
  const mutation = await postGraphQL(env.graphqlUrl, { query: 'mutation { insert_posts(objects: []) { affected_rows } }' }, admin);
  assert.ok(mutation.body.errors?.length, 'a mutation is refused with errors');
  const wrongSecret = await postGraphQL(env.graphqlUrl, { query: '{ posts { id } }' }, { 'x-hasura-admin-secret': 'nope' });
  assert.deepEqual(wrongSecret.body, { errors: [{ message: 'invalid x-hasura-admin-secret/x-hasura-access-key', extensions: { path: '$', code: 'access-denied' } }] });
  const expired = await postGraphQL(env.graphqlUrl, { query: '{ posts { id } }' }, { authorization: `Bearer ${await hasuraToken('u1', env.role, { expiresInSeconds: -10 })}` });
  assert.deepEqual(expired.body, { errors: [{ message: 'Could not verify JWT: JWTExpired', extensions: { path: '$', code: 'invalid-jwt' } }] });
  const noToken = await postGraphQL(env.graphqlUrl, { query: '{ posts { id } }' });
  assert.equal(noToken.body.errors?.[0]?.extensions.code, 'invalid-jwt');
  const notJson = await fetch(env.graphqlUrl, { method: 'POST', body: '{', headers: admin });
  assert.equal(notJson.status, 400);
  const missingRole = await postGraphQL(env.graphqlUrl, { query: '{ posts { id } }' }, { authorization: `Bearer ${await hasuraToken('u1', 'no_such_role_here')}` });
  assert.deepEqual(missingRole.body.errors?.[0]?.extensions, { path: '$', code: 'access-denied' });
  assert.match(missingRole.body.errors?.[0]?.message ?? '', /the role "no_such_role_here" does not exist in the database/);
  const role = await postGraphQL(env.graphqlUrl, { query: '{ posts { id } }' }, { authorization: `Bearer ${await hasuraToken('u1', env.role)}`, 'x-hasura-role': 'admin' });
  assert.deepEqual(role.body.errors?.[0], { message: 'Your requested role "admin" is not in allowed roles', extensions: { path: '$', code: 'access-denied' } });
});

test('the seed-style Nhost usage: graphql-ws on nhost.graphql.url with http swapped for ws and the access token in connection_init; a query gets one result', async () => {
  const nhost = { graphql: { url: env.graphqlUrl } };
  const session = { accessToken: await hasuraToken('u2', env.role) };
  const client = wsClient(nhost.graphql.url.replace(/^http/, 'ws'), session.accessToken);
  try {
    const results: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      client.subscribe({ query: '{ posts(order_by: {id: asc}) { title author { name } } }' }, { next: (result) => results.push(result), error: reject, complete: resolve });
    });
    assert.deepEqual(results, [
      {
        data: {
          posts: [
            { title: 'machines', author: { name: 'alan' } },
            { title: 'Morphogenesis', author: { name: 'alan' } },
          ],
        },
      },
    ]);
  } finally {
    await client.dispose();
  }
});
