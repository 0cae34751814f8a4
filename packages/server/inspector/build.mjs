// Builds the inspector's page into @nself/server's dist/inspector-page: its TypeScript bundled with @nself/client, its HTML and CSS copied.
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', 'dist', 'inspector-page');

await mkdir(out, { recursive: true });
await build({
  entryPoints: [path.join(here, 'main.ts')],
  outfile: path.join(out, 'inspector.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  // The packages' TypeScript sources: the page is built from the tree as it is, whatever was compiled before.
  conditions: ['nself-source'],
  // @nself/client loads `ws` only on Node.js versions without a WebSocket; browsers have one.
  external: ['ws'],
  logLevel: 'warning',
});
await Promise.all(['index.html', 'style.css'].map((file) => copyFile(path.join(here, file), path.join(out, file))));
