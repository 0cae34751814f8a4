// The dependency direction of packages/server/src: a module imports its own folder's files and the layers below its own, never across or up.
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { importGraph, PACKAGES } from './source-imports.js';

const SRC = path.join(PACKAGES, 'server', 'src');

/** The unit of every top-level module not named in LAYERS: the shared modules at the bottom. */
const SHARED = 'the other top-level modules';

/**
 * The layers of packages/server/src, top first (docs/architecture.md, "Layers", explains each). A unit is a
 * feature folder (`socket/`) or a top-level file named here; every other top-level module belongs to SHARED.
 * A module may import the files of its own unit and of the units in the layers below its own: not a unit of
 * its own layer, not one above. A new folder gets its place here (the test fails until it has one).
 */
const LAYERS: readonly (readonly string[])[] = [
  ['index.ts'],
  ['workers/'],
  ['run-until-signal.ts'],
  ['server.ts'],
  ['http/', 'socket/'],
  ['graphql/', 'inspector/'],
  ['channel/'],
  ['broadcast/', 'presence/', 'table-changes/', 'connections/'],
  ['auth/'],
  [SHARED],
];

function unitOf(file: string): string {
  const relative = path.relative(SRC, file);
  const [first] = relative.split(path.sep);
  if (first !== relative) return `${first}/`;
  return LAYERS.some((units) => units.includes(relative)) ? relative : SHARED;
}

function layerOf(unit: string): number {
  const layer = LAYERS.findIndex((units) => units.includes(unit));
  assert.ok(
    layer >= 0,
    `packages/server/src/${unit} has no place in LAYERS (packages/server/test/feature-layers.test.ts): add it to the layer it belongs to, and to docs/architecture.md`,
  );
  return layer;
}

/** Each import of `graph` that goes across or up the layers, as `importer imports imported: why it may not`. */
function layerViolations(graph: ReadonlyMap<string, readonly string[]>): string[] {
  return [...graph].flatMap(([file, imports]) => {
    const unit = unitOf(file);
    const layer = layerOf(unit);
    return imports
      .filter((target) => unitOf(target) !== unit && layerOf(unitOf(target)) <= layer)
      .map((target) => {
        const below = LAYERS.slice(layer + 1).flat();
        const where = layerOf(unitOf(target)) === layer ? 'in the same layer' : 'in a layer above it';
        return (
          `${path.relative(SRC, file)} imports ${path.relative(SRC, target)}: ${unitOf(target)} is ${where}, and ${unit} imports only ` +
          `its own files and the layers below it (${below.join(', ')})`
        );
      });
  });
}

test('every folder of packages/server/src has its place in the layers', () => {
  const folders = readdirSync(SRC).filter((entry) => statSync(path.join(SRC, entry)).isDirectory());
  for (const folder of folders) layerOf(`${folder}/`);
  const declared = LAYERS.flat().filter((unit) => unit !== SHARED);
  const missing = declared.filter((unit) => !readdirSync(SRC).includes(unit.replace(/\/$/, '')));
  assert.deepEqual(missing, [], 'LAYERS names units that packages/server/src no longer has');
});

test('packages/server/src imports only down the layers', () => {
  const found = layerViolations(importGraph(SRC));
  assert.deepEqual(found, [], `imports against the layers of packages/server/src:\n${found.join('\n')}`);
});

test('an import up or across the layers is named with the rule it breaks', () => {
  const file = (relative: string) => path.join(SRC, relative);
  const graph = new Map([
    [file('broadcast/broadcast-feed.ts'), [file('channel/joined-channel.ts'), file('presence/presence-feed.ts'), file('logger.ts')]],
    [file('auth/auth.ts'), [file('refusal.ts')]],
  ]);
  assert.deepEqual(layerViolations(graph), [
    'broadcast/broadcast-feed.ts imports channel/joined-channel.ts: channel/ is in a layer above it, and broadcast/ imports only its own files and the layers below it (auth/, the other top-level modules)',
    'broadcast/broadcast-feed.ts imports presence/presence-feed.ts: presence/ is in the same layer, and broadcast/ imports only its own files and the layers below it (auth/, the other top-level modules)',
  ]);
});
