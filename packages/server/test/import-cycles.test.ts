// No module of any package imports itself back through others, type-only imports included: each package's src/ is a graph without cycles.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const PACKAGES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return /\.tsx?$/.test(entry) && !entry.endsWith('.d.ts') ? [full] : [];
  });
}

/** The source files `file` imports or re-exports from its own package (relative specifiers), `import type` included. */
function localImports(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .map(({ fileName }) => fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => {
      const target = path.resolve(path.dirname(file), specifier);
      const found = [target.replace(/\.js$/, '.ts'), target.replace(/\.js$/, '.tsx'), target].find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
      assert.ok(found, `${path.relative(PACKAGES, file)} imports ${specifier}, which is no file of its package`);
      return found;
    });
}

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
    const graph = new Map(sourceFiles(src).map((file) => [file, localImports(file)]));
    const found = cycles(graph).map((cycle) => cycle.map((file) => path.relative(src, file)).join(' → '));
    assert.deepEqual(found, [], `import cycles in packages/${pkg}/src:\n${found.join('\n')}`);
  });
}
