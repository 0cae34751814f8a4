// No module of any package imports itself back through others, type-only imports included: each package's src/ is a graph without cycles.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { importGraph, PACKAGES } from './source-imports.js';

/** Every cycle met by a depth-first walk of the graph, each as the chain of files from where it closes. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const onPath: string[] = [];
  const visit = (file: string): void => {
    const at = onPath.indexOf(file);
    if (at >= 0) return void found.push([...onPath.slice(at), file]);
    if (done.has(file)) return;
    onPath.push(file);
    for (const next of graph.get(file) ?? []) visit(next);
    onPath.pop();
    done.add(file);
  };
  for (const file of graph.keys()) visit(file);
  return found;
}

for (const pkg of readdirSync(PACKAGES)) {
  const src = path.join(PACKAGES, pkg, 'src');
  if (!existsSync(src)) continue;
  test(`@nself/${pkg} has no import cycles`, () => {
    const found = cycles(importGraph(src)).map((cycle) => cycle.map((file) => path.relative(src, file)).join(' → '));
    assert.deepEqual(found, [], `import cycles in packages/${pkg}/src:\n${found.join('\n')}`);
  });
}
