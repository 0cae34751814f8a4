// ESLint for the repository: typescript-eslint's recommended rules with type information, and the import boundary between packages.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const TYPESCRIPT = ['**/*.ts', '**/*.tsx'];
const JAVASCRIPT = ['**/*.js', '**/*.mjs'];

/**
 * A package's sources import another package only by its name (`@nself/db`), never by a relative path into
 * its folder, and in packages/server/src the feature folders import nothing outside src/ (which of them may
 * import which is packages/server/test/feature-layers.test.ts's rule). Both come to one rule: a relative import in packages/<name>/src never leaves that src/. A file N folders
 * below src/ leaves it with N `../`, so each depth gets its own pattern.
 */
function importBoundary(depth) {
  const below = Array.from({ length: depth - 1 }, () => '*/').join('');
  return {
    files: [`packages/*/src/${below}*.{ts,tsx}`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\.(/|$)){${depth}}`,
              message: "A relative import leaves this package's src/: import another package by its name (@nself/…), and keep a package's own imports inside its src/.",
            },
          ],
        },
      ],
    },
  };
}

export default defineConfig(
  globalIgnores(['**/dist/', '**/node_modules/', '.nself/', '.scratch/', 'coverage/', 'bench/results/', 'packed/']),
  // A disable comment that no longer silences anything fails the lint, so none outlives its reason.
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  {
    files: [...TYPESCRIPT, ...JAVASCRIPT],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        projectService: {
          // The packages' unit tests belong to test/tsconfig.json, which lies in no folder above them; there are
          // more of them than the eight files the default project takes unless told.
          allowDefaultProject: ['packages/*/test/*.ts'],
          maximumDefaultProjectFileMatchCount_THIS_WILL_SLOW_DOWN_LINTING: 32,
          defaultProject: 'test/tsconfig.json',
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Destructuring with a rest element is how the code drops a property (`{ phx_ref: _ref, ...meta }`); `_` marks what is unused on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      // An async function with no await is how the code returns a promise an interface asks for (`close: async () => undefined`).
      '@typescript-eslint/require-await': 'off',
      // String(value) and data.toString() convert wire data the code has not typed (ws messages, fields of received JSON) on purpose.
      '@typescript-eslint/no-base-to-string': 'off',
      // The regular expressions that contain control characters are there to find them (validation, terminal safety).
      'no-control-regex': 'off',
      // node:test's test() and describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] }],
    },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: {
      // supabase-js documents comparing its subscribe status (an enum) with strings such as 'SUBSCRIBED'.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // Tests and benchmarks read parsed JSON and query rows as `any` and let the assertions check them.
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // The scripts, the CLI's bin and the chat page are JavaScript outside every tsconfig.
    files: JAVASCRIPT,
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // The chat example's page runs in the browser.
    files: ['examples/chat/public/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
  [1, 2, 3, 4, 5, 6].map(importBoundary),
);
