// The keys this server adds to the Supabase wire are spelled as strings only in their typed home, src/extensions.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const PACKAGES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOME = path.join(PACKAGES, 'protocol', 'src', 'extensions');

/**
 * The packages whose code builds or reads frames. @nself/db and the CLI do not: their `offset`,
 * `position` and `last_offset` are columns of tables and of the CLI's output.
 */
const WIRE_PACKAGES = ['protocol', 'server', 'client', 'react'];

/** Keys of the join config, join reply, broadcast meta, acks, change data and history pages that Supabase's protocol lacks. */
const WIRE_KEYS = [
  'resume',
  'postgres_changes_resume',
  'latest_offset',
  'earliest_offset',
  'first_offset',
  'last_offset',
  'recovered',
  'truncated',
  'offset',
  'replayed',
  'position',
  'next_after',
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return /\.tsx?$/.test(entry) ? [full] : [];
  });
}

/** Characters after which a `/` starts a regular expression rather than a division. */
const BEFORE_REGEX = new Set(['', '(', ',', '=', ':', '[', '!', '&', '|', '?', '{', '}', ';', '+', '-', '*', '%', '<', '>', '~', '^']);

/**
 * The text of every string literal in TypeScript `source`: quoted strings and the literal parts of
 * templates (whose `${…}` parts are read as code). Comments and regular expressions are skipped.
 */
function stringLiterals(source: string): string[] {
  const found: string[] = [];
  let index = 0;
  let previous = '';

  /** Reads code until an unmatched `}` (the end of a template's `${…}`) or the end of the source. */
  function code(): void {
    let depth = 0;
    while (index < source.length) {
      const character = source[index]!;
      const next = source[index + 1];
      if (character === '/' && next === '/') {
        index = source.indexOf('\n', index);
        if (index < 0) index = source.length;
      } else if (character === '/' && next === '*') {
        index = source.indexOf('*/', index + 2) + 2;
        if (index < 2) index = source.length;
      } else if (character === "'" || character === '"') {
        found.push(quoted(character));
        previous = 'x';
      } else if (character === '`') {
        template();
        previous = 'x';
      } else if (character === '/' && BEFORE_REGEX.has(previous)) {
        regex();
        previous = 'x';
      } else {
        if (character === '{') depth += 1;
        if (character === '}') {
          if (depth === 0) return;
          depth -= 1;
        }
        index += 1;
        if (!/\s/.test(character)) previous = /[\w$)\].]/.test(character) ? 'x' : character;
      }
    }
  }

  function quoted(quote: string): string {
    let text = '';
    index += 1;
    while (index < source.length && source[index] !== quote) {
      if (source[index] === '\\') index += 1;
      text += source[index] ?? '';
      index += 1;
    }
    index += 1;
    return text;
  }

  function template(): void {
    let text = '';
    index += 1;
    while (index < source.length && source[index] !== '`') {
      if (source[index] === '\\') {
        text += source[index + 1] ?? '';
        index += 2;
      } else if (source[index] === '$' && source[index + 1] === '{') {
        found.push(text);
        text = '';
        index += 2;
        previous = '';
        code();
        index += 1;
      } else {
        text += source[index];
        index += 1;
      }
    }
    found.push(text);
    index += 1;
  }

  function regex(): void {
    let inClass = false;
    index += 1;
    while (index < source.length && (inClass || source[index] !== '/') && source[index] !== '\n') {
      if (source[index] === '\\') index += 1;
      else if (source[index] === '[') inClass = true;
      else if (source[index] === ']') inClass = false;
      index += 1;
    }
    index += 1;
  }

  code();
  return found;
}

test('the scan finds a wire key in a string, and not in comments, templates around it or regular expressions', () => {
  const sample = [
    "const a = meta['offset']; // 'position'",
    '/* "latest_offset" */ const b = `resume: ${config["resume"]}`;',
    "const c = /'replayed'/.test(text) ? x / 2 : `${'truncated'}`;",
  ].join('\n');
  assert.deepEqual(
    stringLiterals(sample).filter((text) => WIRE_KEYS.includes(text)),
    ['offset', 'resume', 'truncated'],
  );
});

test('every wire key this server adds is spelled in its home, src/extensions', () => {
  const home = sourceFiles(HOME)
    .map((file) => readFileSync(file, 'utf8'))
    .join('\n');
  const missing = WIRE_KEYS.filter((key) => !new RegExp(`\\b${key}\\b`).test(home));
  assert.deepEqual(missing, [], 'keys listed here but no longer part of the extensions: remove them from WIRE_KEYS');
});

test('no wire key is spelled as a string literal outside src/extensions: use the typed readers and types of @nself/protocol', () => {
  const offenders: string[] = [];
  for (const pkg of WIRE_PACKAGES) {
    for (const file of sourceFiles(path.join(PACKAGES, pkg, 'src'))) {
      if (file.startsWith(HOME + path.sep)) continue;
      const keys = stringLiterals(readFileSync(file, 'utf8')).filter((text) => WIRE_KEYS.includes(text));
      for (const key of keys) offenders.push(`${path.relative(PACKAGES, file)}: '${key}'`);
    }
  }
  assert.deepEqual(offenders, []);
});
