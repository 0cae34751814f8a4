// The filter grammar and the table-name rules, on their own: what parses, into what, and what is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { notifyChannel, parseCaptureFilter, parseTableName, triggerFunctionName, triggerName } from '@nself/db';

test('filters parse into conditions: quoted names and strings, <> as !=, in lists, and', () => {
  assert.deepEqual(parseCaptureFilter(`"Post Id" <> 'it''s, here' AND status in ('a', 'b,c') and score >= -1.5e2 and ok = true`).conditions, [
    { column: 'Post Id', operator: '!=', values: ["it's, here"] },
    { column: 'status', operator: 'in', values: ['a', 'b,c'] },
    { column: 'score', operator: '>=', values: ['-1.5e2'] },
    { column: 'ok', operator: '=', values: ['true'] },
  ]);
  assert.deepEqual(parseCaptureFilter('POST_ID = 5').conditions, [{ column: 'post_id', operator: '=', values: ['5'] }]);
});

test('malformed filters name the position and what was expected', () => {
  const cases: [string, RegExp][] = [
    ['post_id', /expected an operator .* at position 8, found the end/],
    ["post_id = '123' or x = 1", /expected "and" or the end at position 17, found "or"/],
    ['post_id in 1, 2', /expected "\(" after in at position 12, found "1"/],
    ['post_id in (1 2)', /expected "," or "\)" at position 15, found "2"/],
    ['= 5', /expected a column name at position 1, found "="/],
    ['a = 1 and', /expected a condition after "and" at position 10/],
    ['a = b', /expected a value \('text', a number, true or false\) at position 5, found "b"/],
    ['a = 1; drop table x', /unexpected character ";" at position 6/],
  ];
  for (const [filter, message] of cases) assert.throws(() => parseCaptureFilter(filter), message, filter);
});

test('table names follow SQL: default schema, case folding, quoting; junk is refused', () => {
  assert.deepEqual(parseTableName('users'), { schema: 'public', table: 'users' });
  assert.deepEqual(parseTableName('Public.Users'), { schema: 'public', table: 'users' });
  assert.deepEqual(parseTableName('"My Schema"."a.b ""c"""'), { schema: 'My Schema', table: 'a.b "c"' });
  for (const bad of ['a.b.c', 'public.', '"open', 'public.users; drop', '']) {
    assert.throws(() => parseTableName(bad), /invalid table name/, bad);
  }
});

test('generated names keep the seed form and always fit in 63 bytes', () => {
  const users = { schema: 'public', table: 'users' };
  assert.equal(triggerFunctionName(users), 'notify_public_users');
  assert.equal(triggerName('INSERT', users), 'realtime_INSERT_users');
  assert.equal(notifyChannel(users), 'realtime:table:public.users');
  const long = { schema: 'ünïcödé_schema_with_a_long_name', table: 'Ω'.repeat(31) };
  for (const name of [triggerFunctionName(long), triggerName('TRUNCATE', long), notifyChannel(long)]) {
    assert.ok(Buffer.byteLength(name) <= 63, `${name} fits`);
  }
  assert.notEqual(notifyChannel(long), notifyChannel({ ...long, table: 'Ω'.repeat(30) + 'x' }), 'cut names stay distinct');
  assert.notEqual(triggerFunctionName({ schema: 'a_b', table: 'c' }, true), triggerFunctionName({ schema: 'a', table: 'b_c' }, true));
});
