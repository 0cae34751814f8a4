// Parsing and checking command-line arguments: numbers, JSON, output format, stdin, one-line usage errors.
import { Command } from 'commander';
import { checkJsonObject, readSetting, UserError } from '@nself/db/values';
import { checkJsonText, JsonValueError } from '@nself/protocol/json-limits';
import { jsonSyntaxErrorPosition } from './json-position.js';
import type { OutputFormat } from './output.js';

/** The words that pick an output format, as the seed's trailing `json` does. */
const FORMAT_WORDS: readonly OutputFormat[] = ['json', 'table'];

/**
 * Parses JSON typed by the user. A syntax error names `what`, the offending character and its position;
 * JSON the server would refuse (nesting deeper than REALTIME_MAX_JSON_DEPTH, numbers a 64-bit float
 * cannot keep exactly, `\u0000`) names the path and the problem, so nothing is changed on the way.
 */
export function parseJsonArgument(text: string, what: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UserError(`${what} is not valid JSON: ${syntaxProblem(text)}`);
  }
  try {
    checkJsonText(text, { maxDepth: readSetting(process.env, 'REALTIME_MAX_JSON_DEPTH') });
  } catch (error) {
    if (!(error instanceof JsonValueError)) throw error;
    throw new UserError(`${what}${error.path.slice(1)}: ${error.problem}`);
  }
  return value;
}

/** Where invalid JSON goes wrong: the offending character and its position (just "too deeply nested" when finding it would overflow the stack). */
function syntaxProblem(text: string): string {
  let position: number;
  try {
    position = Math.max(0, jsonSyntaxErrorPosition(text));
  } catch (error) {
    if (error instanceof RangeError) return 'it nests too deeply to say where';
    throw error;
  }
  const found = position >= text.length ? 'end of input' : `character ${JSON.stringify(text[position])}`;
  return `unexpected ${found} at position ${position}`;
}

/** Parses a JSON object typed by the user (metadata, payloads). */
export function parseJsonObjectArgument(text: string, what: string): Record<string, unknown> {
  return checkJsonObject(parseJsonArgument(text, what), what);
}

export interface NumberRule {
  /** Smallest accepted value. */
  readonly min: number;
  /** Only whole numbers. */
  readonly integer?: boolean;
}

/** Parses a number argument such as a limit, hours or seconds, naming what is accepted when it is wrong. */
export function parseNumberArgument(text: string, what: string, rule: NumberRule): number {
  const kind = rule.integer ? 'whole number' : 'number';
  const accepted = `${what} must be a ${kind} of at least ${rule.min}`;
  if (!/^\s*-?(\d+(\.\d*)?|\.\d+)\s*$/.test(text)) throw new UserError(`${accepted}, got "${text}"`);
  const value = Number(text);
  if (!Number.isFinite(value) || value < rule.min || (rule.integer && !Number.isSafeInteger(value))) {
    throw new UserError(`${accepted}, got "${text}"`);
  }
  return value;
}

/** Options that every listing accepts: `--json` and `--format json|table`. */
export interface OutputOptions {
  readonly json?: boolean;
  readonly format?: string;
}

/** Adds `--json` and `--format <json|table>` to a listing command. */
export function addOutputOptions(command: Command): Command {
  return command.option('--json', 'print JSON instead of a table').option('--format <format>', `output format: ${FORMAT_WORDS.join(' or ')}`);
}

/**
 * Splits a trailing `json` or `table` word off a command's optional positional arguments (the seed's
 * `messages general 50 json`); the last of `args` is the slot meant for that word. Returns the other
 * arguments (missing ones as undefined); anything else left in the last slot is an error.
 */
export function takeFormatWord(args: readonly (string | undefined)[]): { args: (string | undefined)[]; word?: OutputFormat } {
  const rest = [...args];
  let last = rest.length - 1;
  while (last >= 0 && rest[last] === undefined) last -= 1;
  const candidate = last >= 0 ? rest[last]?.toLowerCase() : undefined;
  let word: OutputFormat | undefined;
  if (candidate && (FORMAT_WORDS as readonly string[]).includes(candidate)) {
    rest[last] = undefined;
    word = candidate as OutputFormat;
  }
  const extra = rest.at(-1);
  if (extra !== undefined) {
    throw new UserError(`unexpected argument "${extra}"; the last argument can only be ${FORMAT_WORDS.map((w) => `"${w}"`).join(' or ')}`);
  }
  return word ? { args: rest.slice(0, -1), word } : { args: rest.slice(0, -1) };
}

/** The output format asked for by `--json`, `--format` or a trailing word; a table by default. */
export function outputFormat(options: OutputOptions, word?: OutputFormat): OutputFormat {
  if (options.format !== undefined && !(FORMAT_WORDS as readonly string[]).includes(options.format.toLowerCase())) {
    throw new UserError(`invalid output format "${options.format}"; expected one of: ${FORMAT_WORDS.join(', ')}`);
  }
  if (options.json || options.format?.toLowerCase() === 'json' || word === 'json') return 'json';
  return 'table';
}

/** Makes `command` a listing: a trailing `[json]` argument, `--json`, `--format`, and examples in its help. */
export function asListing(command: Command, examples: readonly string[]): Command {
  return addOutputOptions(withExamples(command.argument('[json]', 'print JSON (same as --json)'), examples));
}

/**
 * For a listing's action: splits the trailing format word off its optional arguments (the last of
 * `args` being the `[json]` slot) and resolves the output format with the options.
 */
export function resolveOutput(args: readonly (string | undefined)[], options: OutputOptions): { args: (string | undefined)[]; format: OutputFormat } {
  const { args: rest, word } = takeFormatWord(args);
  return { args: rest, format: outputFormat(options, word) };
}

/** `nself realtime channel create <name> [type] [metadata-json]`: the full usage line of a command. */
export function commandUsage(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current; current = current.parent) names.unshift(current.name());
  return `${names.join(' ')} ${command.usage()}`;
}

/** The error for a required argument that a command checks itself, with the command's usage. */
export function missingArgument(command: Command, name: string): UserError {
  return new UserError(`missing required argument '${name}'; usage: ${commandUsage(command)}`);
}

/**
 * Makes every command in the tree report argument errors on one line with its usage
 * (`error: missing required argument 'name'; usage: …`) instead of a message followed by help.
 */
export function useOneLineErrors(command: Command): void {
  command.showHelpAfterError(false);
  command.configureOutput({
    outputError: (text, write) => write(`${text.trim().replace(/\s*\n\s*/g, ' ')}; usage: ${commandUsage(command)}\n`),
  });
  for (const sub of command.commands) useOneLineErrors(sub);
}

/** Reads standard input to the end (for a payload given as `-`). */
export async function readStandardInput(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Adds an "Examples:" block to a command's help. */
export function withExamples(command: Command, examples: readonly string[]): Command {
  return command.addHelpText('after', `\nExamples:\n${examples.map((line) => `  $ ${line}`).join('\n')}\n`);
}
