// The import graph of a package's src/ as the boundary tests read it: every source file and the files of its package it imports.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The packages/ folder. */
export const PACKAGES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Every TypeScript source file under `dir`, declaration files aside. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return /\.tsx?$/.test(entry) && !entry.endsWith('.d.ts') ? [full] : [];
  });
}

/** The source files `file` imports or re-exports from its own package (relative specifiers), `import type` included. */
export function localImports(file: string): string[] {
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

/** Each source file of `src` with the files it imports. */
export function importGraph(src: string): Map<string, string[]> {
  return new Map(sourceFiles(src).map((file) => [file, localImports(file)]));
}
