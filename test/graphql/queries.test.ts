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
