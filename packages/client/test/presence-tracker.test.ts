// Unit tests of the client's presence state: full states and diffs in any order, two connections under one key, and what join and leave report.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PresenceTracker, type PresenceChange } from '../src/presence.js';

function tracker(): { presence: PresenceTracker; changes: PresenceChange[]; syncs: () => number } {
  const changes: PresenceChange[] = [];
  let syncs = 0;
  const presence = new PresenceTracker(
    (change) => changes.push(change),
    () => {
      syncs += 1;
    },
  );
  return { presence, changes, syncs: () => syncs };
}

const meta = (ref: string, state: Record<string, unknown> = {}) => ({ phx_ref: ref, ...state });

test("a diff that arrives before the join's full state waits for it, and is applied after it", () => {
  const { presence, changes, syncs } = tracker();
  presence.applyDiff({ joins: { bob: { metas: [meta('2', { mood: 'late' })] } }, leaves: {} });
  assert.deepEqual(presence.snapshot(), {});
  assert.equal(syncs(), 0);
  presence.applyState({ ann: { metas: [meta('1', { mood: 'here' })] } });
  assert.deepEqual(presence.snapshot(), { ann: [{ mood: 'here', presence_ref: '1' }], bob: [{ mood: 'late', presence_ref: '2' }] });
  assert.deepEqual(
    changes.map((change) => `${change.event}:${change.key}`),
    ['join:ann', 'join:bob'],
  );
  assert.equal(syncs(), 1);
});

test('two connections under one key are two presences: one leaving keeps the key with the other', () => {
  const { presence, changes } = tracker();
  presence.applyState({});
  presence.applyDiff({ joins: { ann: { metas: [meta('1', { tab: 1 })] } } });
  presence.applyDiff({ joins: { ann: { metas: [meta('2', { tab: 2 })] } } });
  presence.applyDiff({ leaves: { ann: { metas: [meta('1', { tab: 1 })] } } });
  assert.deepEqual(presence.snapshot(), { ann: [{ tab: 2, presence_ref: '2' }] });
  const leave = changes.at(-1);
  assert.equal(leave?.event, 'leave');
  assert.deepEqual(leave?.leftPresences, [{ tab: 1, presence_ref: '1' }]);
  assert.deepEqual(leave?.currentPresences, [{ tab: 2, presence_ref: '2' }]);
  presence.applyDiff({ leaves: { ann: { metas: [meta('2')] } } });
  assert.deepEqual(presence.snapshot(), {});
  assert.equal(changes.at(-1)?.currentPresence, undefined, 'the key left entirely');
});

test('a new full state after a rejoin reports who left and who joined meanwhile, and a repeated join is reported once', () => {
  const { presence, changes } = tracker();
  presence.applyState({ ann: { metas: [meta('1')] }, bob: { metas: [meta('2')] } });
  presence.applyDiff({ joins: { bob: { metas: [meta('2')] } } });
  presence.reset();
  presence.applyDiff({ leaves: { carl: { metas: [meta('9')] } } });
  presence.applyState({ bob: { metas: [meta('2')] }, carl: { metas: [meta('3')] } });
  assert.deepEqual(Object.keys(presence.snapshot()).sort(), ['bob', 'carl']);
  assert.deepEqual(
    changes.map((change) => `${change.event}:${change.key}`),
    ['join:ann', 'join:bob', 'leave:ann', 'join:carl'],
  );
});
