// Unit tests of the binding filter grammar (postgres_changes `filter`) and of the table event names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BINDING_EVENTS, bindingEventOf, BindingFilterSyntaxError, CAPTURE_EVENTS, parseBindingFilter } from '../src/index.js';

test('a binding filter reads as conditions joined by top-level commas, quoted values kept whole', () => {
  assert.deepEqual(parseBindingFilter('user_id=eq.42,status=in.(open,"on hold","a,b"),name=neq."x\\"y",done=is.NULL'), [
    { column: 'user_id', operator: 'eq', values: ['42'], negated: false },
    { column: 'status', operator: 'in', values: ['open', 'on hold', 'a,b'], negated: false },
    { column: 'name', operator: 'neq', values: ['x"y'], negated: false },
    { column: 'done', operator: 'is', values: ['null'], negated: false },
  ]);
  assert.deepEqual(parseBindingFilter('name=not.ilike.*smith*,id=not.in.(1,2),code=match.^[A-Z]{2}$,at=isdistinct.x'), [
    { column: 'name', operator: 'ilike', values: ['*smith*'], negated: true },
    { column: 'id', operator: 'in', values: ['1', '2'], negated: true },
    { column: 'code', operator: 'match', values: ['^[A-Z]{2}$'], negated: false },
    { column: 'at', operator: 'isdistinct', values: ['x'], negated: false },
  ]);
  assert.deepEqual(parseBindingFilter('  '), []);
  assert.deepEqual(parseBindingFilter(undefined), []);
});

test('a filter that cannot be read is refused saying what is wrong and which operators are accepted', () => {
  const cases: Array<[string, RegExp]> = [
    [
      'priority=likes.3',
      /^Error parsing `filter` params: unknown operator "likes" in "priority=likes\.3"; expected column=op\.value or column=not\.op\.value joined by commas, with op one of eq, neq, lt, lte, gt, gte, in, is, like, ilike, match, imatch, isdistinct/,
    ],
    ['priority=not.3', /"priority=not.3" has no operator/],
    ['id', /"id" has no column=op\.value/],
    ['id=eq1', /"id=eq1" has no operator/],
    ['id=in.1,2', /in needs a list in parentheses/],
    ['id=in.()', /in needs at least one value/],
    ['done=is.maybe', /is accepts null, true, false, unknown, found "maybe"/],
    ['name=eq."open', /unterminated quote/],
    ['id=in.(1,2', /unbalanced parentheses/],
  ];
  for (const [filter, message] of cases) {
    assert.throws(
      () => parseBindingFilter(filter),
      (error: unknown) => error instanceof BindingFilterSyntaxError && message.test(error.message),
      filter,
    );
  }
});

test('limits bound the length and the values of an in list only when given', () => {
  const limits = { maxFilterValues: 2, maxFilterLength: 20 };
  assert.throws(() => parseBindingFilter('id=in.(1,2,3)', limits), /too many values for 'in' filter\. Maximum 2/);
  assert.throws(() => parseBindingFilter(`name=eq.${'x'.repeat(20)}`, limits), /filter is too long: 28 characters\. Maximum 20/);
  assert.equal(parseBindingFilter(`id=in.(${Array.from({ length: 500 }, (_, index) => index).join(',')})`)[0]?.values.length, 500);
});

test('table events come from one list: bindings add *, capture adds TRUNCATE, in any case on input', () => {
  assert.deepEqual(BINDING_EVENTS, ['*', 'INSERT', 'UPDATE', 'DELETE']);
  assert.deepEqual(CAPTURE_EVENTS, ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']);
  assert.equal(bindingEventOf('insert'), 'INSERT');
  assert.equal(bindingEventOf('*'), '*');
  assert.equal(bindingEventOf('truncate'), undefined);
});
