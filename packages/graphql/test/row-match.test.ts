// Unit tests of the row conditions live queries test changes against: each operator, SQL's NULL, what stays unknown, and which changes a live query skips.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execute, parse, validate, type GraphQLResolveInfo } from 'graphql';
import { buildSchema, ChangeFilter, Compiler, fieldReads, keyMatch, whereMatch, type ColumnInfo, type CommittedChange, type FieldReads, type RelationInfo } from '../src/index.js';

const column = (name: string, typeName: string, deterministicCollation: boolean | null = null): ColumnInfo => ({
  name,
  typeName,
  sqlType: typeName,
  nullable: true,
  deterministicCollation,
});

const MESSAGE_COLUMNS = [
  column('id', 'int4'),
  column('room', 'int4'),
  column('big', 'int8'),
  column('author', 'uuid'),
  column('body', 'text', true),
  column('nickname', 'text', false),
  column('code', 'bpchar', true),
  column('pinned', 'bool'),
  column('score', 'float8'),
  column('meta', 'jsonb'),
  column('sent_at', 'timestamptz'),
  column('parent_id', 'int4'),
];
const messages = { columns: new Map(MESSAGE_COLUMNS.map((info) => [info.name, info])) };

const ROW = {
  id: 7,
  room: 1,
  big: 5,
  author: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  body: 'hello',
  nickname: 'Ann',
  code: 'ab ',
  pinned: true,
  score: 0.5,
  meta: null,
  sent_at: '2026-01-01T00:00:00+00:00',
  parent_id: null,
};

const truth = (where: Record<string, unknown>, row: Record<string, unknown> = ROW) => whereMatch(messages, where)(row);

test('_eq, _neq, _in and _nin on integers, booleans, uuids and text under a deterministic collation', () => {
  assert.equal(truth({ room: { _eq: 1 } }), 'true');
  assert.equal(truth({ room: { _eq: 2 } }), 'false');
  assert.equal(truth({ room: { _neq: 2 } }), 'true');
  assert.equal(truth({ room: { _neq: 1 } }), 'false');
  assert.equal(truth({ room: { _in: [2, 1] } }), 'true');
  assert.equal(truth({ room: { _in: [2, 3] } }), 'false');
  assert.equal(truth({ room: { _nin: [2, 3] } }), 'true');
  assert.equal(truth({ room: { _nin: [1] } }), 'false');
  assert.equal(truth({ pinned: { _eq: true } }), 'true');
  assert.equal(truth({ pinned: { _eq: false } }), 'false');
  assert.equal(truth({ pinned: { _neq: false } }), 'true');
  assert.equal(truth({ author: { _eq: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' } }), 'true', 'uuids compare whatever the case of their hex digits');
  assert.equal(truth({ author: { _eq: 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' } }), 'false');
  assert.equal(truth({ author: { _in: ['b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'] } }), 'false');
  assert.equal(truth({ body: { _eq: 'hello' } }), 'true');
  assert.equal(truth({ body: { _eq: 'Hello' } }), 'false');
  assert.equal(truth({ body: { _nin: ['a', 'b'] } }), 'true');
});

test('_gt, _gte, _lt and _lte on integers; int8 given as a number or as decimal text', () => {
  assert.equal(truth({ room: { _gt: 0 } }), 'true');
  assert.equal(truth({ room: { _gt: 1 } }), 'false');
  assert.equal(truth({ room: { _gte: 1 } }), 'true');
  assert.equal(truth({ room: { _lt: 1 } }), 'false');
  assert.equal(truth({ room: { _lte: 1 } }), 'true');
  assert.equal(truth({ room: { _gt: 0, _lt: 5 } }), 'true', 'operators of one column are joined by AND');
  assert.equal(truth({ room: { _gt: 0, _lt: 1 } }), 'false');
  assert.equal(truth({ big: { _eq: '5' } }), 'true');
  assert.equal(truth({ big: { _eq: '6' } }), 'false');
  assert.equal(truth({ big: { _lt: '10' } }), 'true');
});

test('SQL NULL: a comparison with a NULL column is NULL, which a WHERE and its NOT both reject; _is_null tests it', () => {
  const row = { ...ROW, room: null };
  assert.equal(truth({ room: { _eq: 1 } }, row), 'null');
  assert.equal(truth({ room: { _neq: 1 } }, row), 'null');
  assert.equal(truth({ _not: { room: { _eq: 1 } } }, row), 'null');
  assert.equal(truth({ room: { _in: [1] } }, row), 'null');
  assert.equal(truth({ room: { _in: [] } }, row), 'false', 'x = ANY of an empty array is false even for NULL');
  assert.equal(truth({ room: { _nin: [] } }, row), 'true');
  assert.equal(truth({ room: { _is_null: true } }, row), 'true');
  assert.equal(truth({ room: { _is_null: false } }, row), 'false');
  assert.equal(truth({ room: { _is_null: true } }), 'false');
  assert.equal(truth({ sent_at: { _is_null: false } }), 'true', '_is_null needs no comparison of values');
  assert.equal(truth({ _or: [{ room: { _eq: 1 } }, { id: { _eq: 7 } }] }, row), 'true');
  assert.equal(truth({ _or: [{ room: { _eq: 1 } }, { id: { _eq: 8 } }] }, row), 'null');
  assert.equal(truth({ _and: [{ room: { _eq: 1 } }, { id: { _eq: 8 } }] }, row), 'false');
});

test('_and, _or and _not combine as SQL does; empty and null parts are no condition, as the compiler writes them', () => {
  assert.equal(truth({ _and: [{ room: { _eq: 1 } }, { pinned: { _eq: true } }] }), 'true');
  assert.equal(truth({ _and: [{ room: { _eq: 1 } }, { pinned: { _eq: false } }] }), 'false');
  assert.equal(truth({ _or: [{ room: { _eq: 2 } }, { pinned: { _eq: true } }] }), 'true');
  assert.equal(truth({ _or: [{ room: { _eq: 2 } }, { pinned: { _eq: false } }] }), 'false');
  assert.equal(truth({ _not: { room: { _eq: 2 } } }), 'true');
  assert.equal(truth({ _not: { _or: [{ room: { _eq: 1 } }] } }), 'false');
  assert.equal(truth({}), 'true');
  assert.equal(truth({ _or: [] }), 'true');
  assert.equal(truth({ _and: [] }), 'true');
  assert.equal(truth({ room: null, _not: null, pinned: { _eq: null } }), 'true');
  assert.equal(whereMatch(messages, null)(ROW), 'true');
});

test('unknown where JavaScript could disagree with PostgreSQL, and where the row lacks the column', () => {
  const unknown = [
    { body: { _gt: 'a' } }, // text order follows the collation
    { body: { _like: 'h%' } },
    { body: { _ilike: 'H%' } },
    { nickname: { _eq: 'ann' } }, // a nondeterministic collation may make 'ann' equal 'Ann'
    { code: { _eq: 'ab' } }, // bpchar ignores trailing spaces
    { score: { _eq: 0.5 } },
    { meta: { _eq: {} } },
    { meta: { _is_null: true } }, // a JSON null is not SQL NULL
    { sent_at: { _eq: '2026-01-01T00:00:00Z' } },
    { pinned: { _gt: false } },
    { author: { _eq: '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}' } }, // PostgreSQL reads more spellings of a uuid than the canonical one
    { big: { _eq: '+5' } },
    { big: { _eq: 2 ** 53 } }, // a literal past 2^53 arrives rounded
    { big: { _in: [1, '1_000'] } },
    { parent: { room: { _eq: 1 } } }, // a relationship reads another row
  ];
  for (const where of unknown) assert.equal(truth(where), 'unknown', JSON.stringify(where));
  assert.equal(truth({ room: { _eq: 1 } }, { id: 7 }), 'unknown', 'an old row holding only its key');
  assert.equal(truth({ big: { _eq: 5 } }, { ...ROW, big: '5' }), 'unknown', 'a row whose integer column holds text');
  assert.equal(truth({ room: { _eq: 2 }, body: { _like: 'x%' } }), 'false', 'a definite false decides an AND with unknown parts');
  assert.equal(truth({ _or: [{ room: { _eq: 2 } }, { body: { _like: 'x%' } }] }), 'unknown');
  assert.equal(truth({ _not: { body: { _like: 'x%' } } }), 'unknown');
});

test('a _by_pk key matches the row with that key only', () => {
  assert.equal(keyMatch(messages, { id: 7 })(ROW), 'true');
  assert.equal(keyMatch(messages, { id: 8 })(ROW), 'false');
});

const change = (operation: string, rows: { new?: Record<string, unknown>; old?: Record<string, unknown> }): CommittedChange => ({
  position: 1,
  operation,
  schema: 'public',
  table: 'messages',
  new: rows.new ?? null,
  old: rows.old ?? null,
});

test('a change is skipped only when neither its new row nor its old row can meet the where', () => {
  const filter = new ChangeFilter([{ always: new Set(), rooted: { table: '["public","messages"]', match: whereMatch(messages, { room: { _eq: 1 } }) } }]);
  const inRoom = (room: number) => ({ ...ROW, room });
  assert.equal(filter.mayAffect(change('INSERT', { new: inRoom(2) })), false);
  assert.equal(filter.mayAffect(change('INSERT', { new: inRoom(1) })), true);
  assert.equal(filter.mayAffect(change('UPDATE', { new: inRoom(2), old: inRoom(3) })), false);
  assert.equal(filter.mayAffect(change('UPDATE', { new: inRoom(2), old: inRoom(1) })), true, 'a row leaving the where');
  assert.equal(filter.mayAffect(change('UPDATE', { new: inRoom(1), old: inRoom(2) })), true, 'a row entering the where');
  assert.equal(filter.mayAffect(change('UPDATE', { new: inRoom(2), old: { id: 7 } })), true, 'an old row of only its key may have been in room 1');
  assert.equal(filter.mayAffect(change('DELETE', { old: inRoom(2) })), false);
  assert.equal(filter.mayAffect(change('DELETE', { old: inRoom(1) })), true);
  assert.equal(filter.mayAffect(change('DELETE', { old: { id: 7 } })), true);
  assert.equal(filter.mayAffect(change('TRUNCATE', {})), true);
  assert.equal(filter.mayAffect({ ...change('INSERT', { new: inRoom(2) }), table: 'rooms' }), false, 'a table no root field reads');
  assert.equal(new ChangeFilter([{ always: null }]).mayAffect(change('INSERT', { new: inRoom(2) })), true, 'a field reading a view re-runs on every change');
});

/** The FieldReads of each root field of `query` over `relations`, as the engine finds them (the fields resolve to null, as in its dry run). */
function readsOf(relations: RelationInfo[], query: string, variables: Record<string, unknown> = {}): FieldReads[] {
  const found: FieldReads[] = [];
  const schema = buildSchema(relations, (_source, _args, _context, info: GraphQLResolveInfo) => {
    found.push(fieldReads(info, new Compiler(info, 100, 1_000_000).compile()));
    return null;
  });
  const document = parse(query);
  assert.deepEqual(validate(schema, document), []);
  void execute({ schema, document, variableValues: variables });
  assert.equal(found.length, 1, `one root field compiled in ${query}`);
  return found;
}

const RELATIONS: RelationInfo[] = [
  {
    schema: 'public',
    name: 'messages',
    isTable: true,
    columns: MESSAGE_COLUMNS,
    primaryKey: ['id'],
    foreignKeys: [{ columns: ['parent_id'], targetSchema: 'public', targetName: 'messages', references: ['id'] }],
  },
  {
    schema: 'public',
    name: 'rooms',
    isTable: true,
    columns: [column('id', 'int4'), column('name', 'text', true)],
    primaryKey: ['id'],
    foreignKeys: [],
  },
  { schema: 'public', name: 'recent', isTable: false, columns: [column('id', 'int4'), column('room', 'int4')], primaryKey: [], foreignKeys: [] },
];

test("fieldReads: the root where with variables substituted, _by_pk keys, _aggregate's where; every change where the table is read again or through a view", () => {
  const insert = (room: number, id = 7) => change('INSERT', { new: { ...ROW, id, room } });
  const skips = (query: string, variables?: Record<string, unknown>) => {
    const filter = new ChangeFilter(readsOf(RELATIONS, query, variables));
    return [filter.mayAffect(insert(1)), filter.mayAffect(insert(2))];
  };
  assert.deepEqual(skips('subscription { messages(where: {room: {_eq: 1}}, limit: 5, order_by: {id: desc}) { id body } }'), [true, false]);
  assert.deepEqual(skips('subscription ($room: Int!) { messages(where: {room: {_eq: $room}}) { id } }', { room: 2 }), [false, true]);
  assert.deepEqual(skips('subscription { messages_aggregate(where: {room: {_in: [1]}}) { aggregate { count } } }'), [true, false]);
  assert.deepEqual(skips('subscription { messages { id } }'), [true, true]);
  const byKey = new ChangeFilter(readsOf(RELATIONS, 'subscription { messages_by_pk(id: 7) { id } }'));
  assert.deepEqual([byKey.mayAffect(insert(1, 7)), byKey.mayAffect(insert(1, 8))], [true, false]);
  // messages read again below the root: a reply in room 2 may belong to a message in room 1.
  assert.deepEqual(skips('subscription { messages(where: {room: {_eq: 1}}) { id messages { id } } }'), [true, true]);
  assert.deepEqual(skips('subscription { messages(where: {room: {_eq: 1}, parent: {room: {_eq: 1}}}) { id } }'), [true, true]);
  assert.deepEqual(skips('subscription { recent(where: {room: {_eq: 1}}) { id } }'), [true, true], 'a view');
  const rooms = new ChangeFilter(readsOf(RELATIONS, 'subscription { rooms(where: {id: {_eq: 1}}) { id } }'));
  assert.equal(rooms.mayAffect(insert(1)), false, 'a table the query does not read');
});
